-- params: 0
SELECT CAST("region" AS BLOB) AS "v" FROM "orders"
