-- params: 1
SELECT "id", count(*) FILTER (WHERE ("paid" = $1::boolean)) OVER (PARTITION BY "customer_id") AS "n" FROM "orders"
