-- params: 0
SELECT "id", (SELECT count(*) FROM "items" WHERE ("items"."order_id" = "orders"."id")) AS "n_items" FROM "orders"
