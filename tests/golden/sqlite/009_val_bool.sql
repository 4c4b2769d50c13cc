-- params: 2
SELECT "id" FROM "orders" WHERE (("paid" = ?1) OR ("paid" = ?2))
