-- params: 1
SELECT "sku" FROM "products" WHERE ("products"."products_fts" @@ websearch_to_tsquery('simple', $1))
