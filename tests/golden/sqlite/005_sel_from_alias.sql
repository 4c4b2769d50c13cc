-- params: 0
SELECT "o"."id", "o"."status" FROM "orders" AS "o"
