-- params: 1
DELETE FROM "items" WHERE (NOT EXISTS (SELECT $1::int8 FROM "products" WHERE ("products"."sku" = "items"."sku")))
