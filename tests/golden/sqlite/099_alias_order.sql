-- params: 0
SELECT "region" AS "r", sum("amount") AS "total" FROM "orders" GROUP BY "region" ORDER BY "total" DESC NULLS FIRST
