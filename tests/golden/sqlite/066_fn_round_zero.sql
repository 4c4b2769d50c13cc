-- params: 2
SELECT round(?1, CAST(?2 AS INTEGER)) AS "r"
