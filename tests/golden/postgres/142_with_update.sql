-- params: 1
WITH "late" AS (SELECT "id" FROM "orders" WHERE ("shipped_on" IS NULL)) UPDATE "orders" SET "status" = $1 WHERE ("id" IN (SELECT "id" FROM "late"))
