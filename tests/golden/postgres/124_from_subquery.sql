-- params: 0
SELECT "s"."region", sum("s"."a") AS "total" FROM (SELECT "region", "amount" AS "a" FROM "orders" WHERE ("region" IS NOT NULL)) AS "s" GROUP BY "s"."region"
