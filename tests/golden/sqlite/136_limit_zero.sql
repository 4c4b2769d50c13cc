-- params: 1
SELECT "id" FROM "orders" LIMIT ?1
