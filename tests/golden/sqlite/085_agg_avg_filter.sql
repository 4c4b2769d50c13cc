-- params: 1
SELECT avg("qty") FILTER (WHERE ("status" <> ?1)) AS "a" FROM "orders"
