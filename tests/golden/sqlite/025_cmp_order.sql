-- params: 4
SELECT "id" FROM "orders" WHERE (("amount" < ?1) AND ("qty" <= ?2) AND ("id" > ?3) AND ("created_at" >= ?4))
