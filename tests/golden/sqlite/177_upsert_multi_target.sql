-- params: 5
INSERT INTO "items" ("id", "order_id", "sku", "qty", "price") VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT ("order_id", "sku") DO UPDATE SET "qty" = ("items"."qty" + excluded."qty")
