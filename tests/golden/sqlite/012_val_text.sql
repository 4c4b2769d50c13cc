-- params: 1
SELECT "id" FROM "orders" WHERE ("note" = ?1)
