-- params: 2
SELECT "id" FROM "orders" WHERE ("region" = $1) UNION ALL SELECT "id" FROM "orders" WHERE ("amount" > $2::float8)
