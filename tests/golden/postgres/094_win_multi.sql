-- params: 0
SELECT "id", max("amount") OVER (PARTITION BY "region", "status" ORDER BY "amount" DESC, "id") AS "m" FROM "orders"
