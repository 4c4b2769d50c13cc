-- params: 4
SELECT "id" FROM "orders" WHERE (("amount" < $1::float8) AND ("qty" <= $2::int8) AND ("id" > $3::int8) AND ("created_at" >= $4))
