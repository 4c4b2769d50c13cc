-- params: 1
SELECT count(DISTINCT "customer_id") FILTER (WHERE ("amount" > ?1)) AS "n" FROM "orders"
