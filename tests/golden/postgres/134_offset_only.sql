-- params: 1
SELECT "id" FROM "orders" ORDER BY "id" OFFSET $1::int8
