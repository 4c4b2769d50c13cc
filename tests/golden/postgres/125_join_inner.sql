-- params: 0
SELECT "o"."id", "c"."name" FROM "orders" AS "o" JOIN "customers" AS "c" ON ("c"."id" = "o"."customer_id")
