-- params: 1
SELECT "id" FROM "orders" ORDER BY "id" LIMIT -1 OFFSET ?1
