-- params: 1
SELECT CAST(?1 AS INTEGER) AS "v"
