-- params: 1
SELECT "id" FROM "orders" UNION ALL SELECT "id" FROM "items" ORDER BY "id" OFFSET $1::int8
