-- params: 2
SELECT "id" FROM "orders" WHERE ("id" NOT IN (?1, ?2))
