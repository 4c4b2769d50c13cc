-- params: 0
SELECT "id" FROM "orders" ORDER BY "region", "amount" DESC, "id"
