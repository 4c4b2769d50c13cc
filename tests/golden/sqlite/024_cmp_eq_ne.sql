-- params: 2
SELECT "id" FROM "orders" WHERE (("region" = ?1) AND ("status" <> ?2))
