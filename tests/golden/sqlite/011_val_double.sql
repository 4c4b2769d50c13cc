-- params: 3
SELECT "id" FROM "orders" WHERE (("amount" > ?1) AND ("amount" < ?2) AND ("amount" <> ?3))
