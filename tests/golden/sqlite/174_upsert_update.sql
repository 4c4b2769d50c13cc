-- params: 4
INSERT INTO "products" ("sku", "name", "price", "stock") VALUES (?1, ?2, ?3, ?4) ON CONFLICT ("sku") DO UPDATE SET "price" = excluded."price", "name" = excluded."name"
