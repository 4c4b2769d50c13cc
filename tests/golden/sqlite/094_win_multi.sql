-- params: 0
SELECT "id", max("amount") OVER (PARTITION BY "region", "status" ORDER BY "amount" DESC NULLS FIRST, "id" NULLS LAST) AS "m" FROM "orders"
