-- params: 0
SELECT "orders".*, "orders"."id", "orders"."region" FROM "orders"
