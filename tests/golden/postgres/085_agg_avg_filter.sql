-- params: 1
SELECT CAST(avg("qty") FILTER (WHERE ("status" <> $1)) AS DOUBLE PRECISION) AS "a" FROM "orders"
