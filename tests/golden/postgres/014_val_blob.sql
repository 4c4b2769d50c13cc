-- params: 1
SELECT "id" FROM "orders" WHERE ("payload" = $1::bytea)
