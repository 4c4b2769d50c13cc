-- params: 1
SELECT CAST(?1 AS REAL) AS "v"
