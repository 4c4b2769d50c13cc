-- params: 0
SELECT "id", rank() OVER (PARTITION BY "region" ORDER BY "amount" DESC NULLS FIRST) AS "r" FROM "orders"
