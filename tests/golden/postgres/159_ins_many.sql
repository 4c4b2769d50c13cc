-- params: 12
INSERT INTO "products" ("sku", "name", "price", "stock") VALUES ($1, $2, $3::float8, $4::int8), ($5, $6, $7::float8, $8::int8), ($9, $10, $11, $12)
