-- params: 1
SELECT CAST(strftime('%H', ?1) AS INTEGER) AS "v"
