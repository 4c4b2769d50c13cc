-- params: 0
SELECT "id", sum("amount") OVER (PARTITION BY "region") AS "total" FROM "orders"
