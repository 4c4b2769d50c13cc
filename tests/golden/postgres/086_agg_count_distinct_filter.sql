-- params: 1
SELECT count(DISTINCT "customer_id") FILTER (WHERE ("amount" > $1::float8)) AS "n" FROM "orders"
