-- params: 3
WITH RECURSIVE "cnt" ("n") AS (SELECT ?1 UNION ALL SELECT ("n" + ?2) FROM "cnt" WHERE ("n" < ?3)) SELECT sum("n") AS "s" FROM "cnt"
