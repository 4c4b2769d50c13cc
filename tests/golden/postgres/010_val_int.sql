-- params: 4
SELECT "id" FROM "orders" WHERE ("id" IN ($1::int8, $2::int8, $3::int8, $4::int8))
