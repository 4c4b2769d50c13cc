-- params: 1
SELECT "id" FROM "orders" ORDER BY "id" NULLS LAST LIMIT ?1
