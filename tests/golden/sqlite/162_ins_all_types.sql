-- params: 12
INSERT INTO "orders" ("id", "customer_id", "region", "amount", "qty", "created_at", "shipped_on", "doc", "note", "paid", "payload", "price") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
