-- params: 2
SELECT (CAST(?1 AS REAL) / NULLIF(CAST(?2 AS REAL), 0)) AS "q"
