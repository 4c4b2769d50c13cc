-- params: 2
WITH RECURSIVE "cnt" ("n") AS (SELECT $1::int8 UNION ALL SELECT ("n" + $1::int8) FROM "cnt" WHERE ("n" < $2::int8)) SELECT sum("n") AS "s" FROM "cnt"
