-- params: 1
SELECT "id" FROM "orders" WHERE ("id" = ?1)
