-- params: 1
SELECT CAST(strftime('%M', ?1) AS INTEGER) AS "v"
