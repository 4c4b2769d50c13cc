-- params: 12
INSERT INTO "orders" ("id", "customer_id", "region", "amount", "qty", "created_at", "shipped_on", "doc", "note", "paid", "payload", "price") VALUES ($1::int8, $2::int8, $3, $4::float8, $5::int8, $6, $7, $8, $9, $10::boolean, $11::bytea, $12)
