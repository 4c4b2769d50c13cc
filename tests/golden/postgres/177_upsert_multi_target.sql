-- params: 5
INSERT INTO "items" ("id", "order_id", "sku", "qty", "price") VALUES ($1::int8, $2::int8, $3, $4::int8, $5::float8) ON CONFLICT ("order_id", "sku") DO UPDATE SET "qty" = ("items"."qty" + excluded."qty")
