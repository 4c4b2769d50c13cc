-- params: 5
SELECT "id" FROM "orders" WHERE ((("region" = ?1) AND (("status" = ?2) OR ("status" = ?3))) OR ((NOT ("region" = ?4)) AND ("amount" > ?5)) OR ("region" IS NULL))
