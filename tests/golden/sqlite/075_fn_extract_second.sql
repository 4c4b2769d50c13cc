-- params: 1
SELECT CAST(strftime('%S', ?1) AS INTEGER) AS "v"
