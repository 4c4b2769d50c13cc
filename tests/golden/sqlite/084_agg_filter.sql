-- params: 2
SELECT sum("amount") FILTER (WHERE ("status" = ?1)) AS "paid_total", count(*) FILTER (WHERE ("status" = ?2)) AS "open_count" FROM "orders"
