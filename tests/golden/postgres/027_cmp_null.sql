-- params: 0
SELECT "id" FROM "orders" WHERE (("note" IS NULL) AND ("region" IS NOT NULL))
