-- params: 3
SELECT "id" FROM "orders" WHERE (("amount" > $1::float8) AND ("amount" < $2::float8) AND ("amount" <> $3::float8))
