-- params: 1
SELECT "sku" FROM "products" WHERE ("products".rowid IN (SELECT rowid FROM "products_fts" WHERE "products_fts" MATCH ?1))
