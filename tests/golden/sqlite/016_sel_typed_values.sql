-- params: 4
SELECT ?1 AS "i", ?2 AS "d", ?3 AS "b", ?4 AS "x"
