-- params: 2
SELECT "sku", CAST(ts_rank("products"."products_fts", websearch_to_tsquery('simple', $1), 1) AS DOUBLE PRECISION) AS "r" FROM "products" WHERE ("products"."products_fts" @@ websearch_to_tsquery('simple', $2)) ORDER BY "r" DESC, "sku"
