-- params: 0
SELECT "id", "region", "amount" FROM "orders"
