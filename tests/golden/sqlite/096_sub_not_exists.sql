-- params: 0
SELECT "id" FROM "customers" WHERE (NOT EXISTS (SELECT * FROM "orders" WHERE ("orders"."customer_id" = "customers"."id")))
