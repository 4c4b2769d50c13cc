-- params: 0
SELECT "customers"."name", count("orders"."id") AS "n" FROM "customers" LEFT JOIN "orders" ON ("orders"."customer_id" = "customers"."id") GROUP BY "customers"."name"
