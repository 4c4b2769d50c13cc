-- params: 1
SELECT CAST($1 AS DATE) AS "v"
