-- params: 1
SELECT (CAST(?1 AS INTEGER) <> 0) AS "v"
