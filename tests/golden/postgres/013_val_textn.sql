-- params: 1
SELECT "id" FROM "orders" WHERE ("region" = $1)
