-- params: 0
SELECT "id" FROM "orders" ORDER BY "region" NULLS LAST, "amount" DESC NULLS FIRST, "id" NULLS LAST
