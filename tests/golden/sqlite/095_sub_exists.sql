-- params: 1
SELECT "id" FROM "orders" WHERE EXISTS (SELECT ?1 FROM "items" WHERE ("items"."order_id" = "orders"."id"))
