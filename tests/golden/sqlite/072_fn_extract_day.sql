-- params: 1
SELECT CAST(strftime('%d', ?1) AS INTEGER) AS "v"
