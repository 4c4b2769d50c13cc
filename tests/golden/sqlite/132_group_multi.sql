-- params: 0
SELECT "region", "status", count(*) AS "n" FROM "orders" WHERE ("region" IS NOT NULL) GROUP BY "region", "status" ORDER BY "region" NULLS LAST, "status" NULLS LAST
