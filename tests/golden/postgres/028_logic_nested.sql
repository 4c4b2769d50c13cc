-- params: 4
SELECT "id" FROM "orders" WHERE ((("region" = $1) AND (("status" = $2) OR ("status" = $3))) OR ((NOT ("region" = $1)) AND ("amount" > $4::float8)) OR ("region" IS NULL))
