-- params: 1
WITH "a" AS (SELECT "id", "customer_id" FROM "orders" WHERE ("paid" = ?1)), "b" AS (SELECT "id", "name" FROM "customers" WHERE ("email" IS NOT NULL)) SELECT "a"."id", "b"."name" FROM "a" JOIN "b" ON ("b"."id" = "a"."customer_id")
