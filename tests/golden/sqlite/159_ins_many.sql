-- params: 12
INSERT INTO "products" ("sku", "name", "price", "stock") VALUES (?1, ?2, ?3, ?4), (?5, ?6, ?7, ?8), (?9, ?10, ?11, ?12)
