-- params: 0
SELECT (CAST("amount" AS DOUBLE PRECISION) / NULLIF(CAST("qty" AS DOUBLE PRECISION), 0)) AS "unit" FROM "orders"
