-- params: 1
SELECT "id" FROM "orders" UNION ALL SELECT "id" FROM "items" ORDER BY "id" NULLS LAST LIMIT -1 OFFSET ?1
