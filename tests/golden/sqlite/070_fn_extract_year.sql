-- params: 1
SELECT CAST(strftime('%Y', ?1) AS INTEGER) AS "v"
