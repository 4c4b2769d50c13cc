-- params: 1
INSERT INTO "archive" ("id", "region", "amount") SELECT "id", "region", "amount" FROM "orders" WHERE ("status" = ?1)
