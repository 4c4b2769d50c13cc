-- params: 0
SELECT "id", avg("amount") OVER (PARTITION BY "region") AS "a" FROM "orders"
