-- params: 0
SELECT "o"."id", "t"."units" FROM (SELECT "order_id", sum("qty") AS "units" FROM "items" GROUP BY "order_id") AS "t" JOIN "orders" AS "o" ON ("o"."id" = "t"."order_id")
