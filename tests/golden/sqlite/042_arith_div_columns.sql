-- params: 0
SELECT (CAST("amount" AS REAL) / NULLIF(CAST("qty" AS REAL), 0)) AS "unit" FROM "orders"
