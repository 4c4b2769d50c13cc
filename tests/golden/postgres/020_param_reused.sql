-- params: 3
SELECT "id" FROM "orders" WHERE ((("customer_id" = $1) AND ("status" = $2)) OR (("customer_id" = $1) AND ("region" = $3)))
