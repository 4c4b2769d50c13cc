-- params: 1
SELECT (CAST("amount" AS INTEGER) % NULLIF(CAST(?1 AS INTEGER), 0)) AS "r" FROM "orders"
