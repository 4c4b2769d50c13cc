-- params: 1
SELECT CAST(strftime('%m', ?1) AS INTEGER) AS "v"
