-- params: 4
SELECT "id" FROM "orders" WHERE (("qty" > $1::int8) AND ("amount" BETWEEN $2 AND $3) AND ("region" = $4))
