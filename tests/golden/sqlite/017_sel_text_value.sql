-- params: 1
SELECT ?1 AS "label"
