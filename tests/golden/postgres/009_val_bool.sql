-- params: 2
SELECT "id" FROM "orders" WHERE (("paid" = $1::boolean) OR ("paid" = $2::boolean))
