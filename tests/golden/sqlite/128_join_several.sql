-- params: 2
SELECT "o"."id", "c"."name", "i"."sku", "p"."name", "e"."name" FROM "orders" AS "o" JOIN "customers" AS "c" ON ("c"."id" = "o"."customer_id") LEFT JOIN "items" AS "i" ON (("i"."order_id" = "o"."id") AND ("i"."qty" > ?1)) LEFT JOIN "products" AS "p" ON ("p"."sku" = "i"."sku") CROSS JOIN "employees" AS "e" WHERE ("e"."id" = ?2)
