-- params: 1
SELECT "id", count(*) FILTER (WHERE ("paid" = ?1)) OVER (PARTITION BY "customer_id") AS "n" FROM "orders"
