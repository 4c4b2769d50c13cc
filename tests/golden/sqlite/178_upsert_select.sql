-- params: 1
INSERT INTO "products" ("sku", "name", "price", "stock") SELECT "sku", ?1, "price", "qty" FROM "items" WHERE true ON CONFLICT ("sku") DO NOTHING
