-- params: 2
WITH RECURSIVE "cnt" ("n") AS (SELECT ?1 UNION ALL SELECT ("n" + ?1) FROM "cnt" WHERE ("n" < ?2)) SELECT sum("n") AS "s" FROM "cnt"
