-- params: 4
SELECT "id" FROM "orders" WHERE (("amount" BETWEEN ?1 AND ?2) AND ("created_at" BETWEEN ?3 AND ?4))
