-- params: 2
WITH RECURSIVE "chain" ("id", "name", "depth") AS (SELECT "id", "name", ?1 FROM "employees" WHERE ("manager_id" IS NULL) UNION ALL SELECT "e"."id", "e"."name", ("chain"."depth" + ?2) FROM "employees" AS "e" JOIN "chain" ON ("e"."manager_id" = "chain"."id")) SELECT * FROM "chain" ORDER BY "depth" NULLS LAST, "id" NULLS LAST
