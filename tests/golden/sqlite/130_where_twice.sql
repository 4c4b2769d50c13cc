-- params: 3
SELECT "id" FROM "orders" WHERE (("region" = ?1) AND (("amount" > ?2) OR ("status" = ?3)))
