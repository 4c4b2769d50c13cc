-- params: 0
SELECT "id", CAST(avg("amount") OVER (PARTITION BY "region") AS DOUBLE PRECISION) AS "a" FROM "orders"
