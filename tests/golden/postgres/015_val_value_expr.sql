-- params: 7
INSERT INTO "orders" ("id", "note", "paid", "qty", "amount", "payload", "region") VALUES ($1::int8, $2, $3::boolean, $4, $5::float8, $6::bytea, $7)
