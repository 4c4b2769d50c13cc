-- params: 2
SELECT "id" FROM "orders" ORDER BY "id" LIMIT ?1 OFFSET ?2
