-- params: 0
SELECT CAST("region" AS BYTEA) AS "v" FROM "orders"
