-- params: 5
SELECT "id" FROM "orders" WHERE (("qty" > $1::int8) AND ("region" = $2) AND ("amount" < $3::float8) AND ("status" = $4) AND ("id" <> $5::int8) AND ("note" IS DISTINCT FROM $2))
