-- params: 2
SELECT "id" FROM "orders" ORDER BY "id" LIMIT $1::int8 OFFSET $2::int8
