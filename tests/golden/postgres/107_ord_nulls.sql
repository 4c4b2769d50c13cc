-- params: 0
SELECT "id" FROM "orders" ORDER BY "region" DESC NULLS FIRST, "amount" NULLS LAST, "note" NULLS FIRST
