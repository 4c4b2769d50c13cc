-- params: 3
SELECT "id" FROM "orders" WHERE (("region" = $1) AND (("amount" > $2::float8) OR ("status" = $3)))
