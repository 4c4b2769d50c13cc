-- params: 1
WITH "src" AS (SELECT "id", "region", "amount", "created_at" FROM "orders" WHERE ("status" = $1)) INSERT INTO "archive" ("id", "region", "amount", "created_at") SELECT * FROM "src"
