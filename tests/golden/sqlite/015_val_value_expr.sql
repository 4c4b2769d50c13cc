-- params: 7
INSERT INTO "orders" ("id", "note", "paid", "qty", "amount", "payload", "region") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
