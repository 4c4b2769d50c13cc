-- params: 1
SELECT "id" FROM "orders" WHERE ("id" IN (?1))
