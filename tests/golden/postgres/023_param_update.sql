-- params: 2
UPDATE "orders" SET "status" = $1 WHERE ("id" = $2)
