-- params: 2
SELECT "sku", (SELECT -bm25("products_fts") FROM "products_fts" WHERE "products_fts" MATCH ?1 AND rowid = "products".rowid) AS "r" FROM "products" WHERE ("products".rowid IN (SELECT rowid FROM "products_fts" WHERE "products_fts" MATCH ?2)) ORDER BY "r" DESC NULLS FIRST, "sku" NULLS LAST
