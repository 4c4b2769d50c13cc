-- params: 3
SELECT "id" FROM "orders" WHERE ("status" IN ($1, $2, $3))
