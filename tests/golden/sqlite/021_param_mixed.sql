-- params: 5
SELECT "id" FROM "orders" WHERE (("qty" > ?1) AND ("region" = ?2) AND ("amount" < ?3) AND ("status" = ?4) AND ("id" <> ?5) AND ("note" IS NOT ?2))
