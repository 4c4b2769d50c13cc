-- params: 2
SELECT "id" FROM "orders" ORDER BY "id" NULLS LAST LIMIT ?1 OFFSET ?2
