-- params: 0
SELECT CAST(avg("qty") AS DOUBLE PRECISION) AS "a" FROM "orders"
