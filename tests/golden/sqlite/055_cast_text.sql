-- params: 1
SELECT CAST(?1 AS TEXT) AS "v"
