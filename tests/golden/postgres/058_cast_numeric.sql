-- params: 0
SELECT CAST("amount" AS NUMERIC) AS "v" FROM "orders"
