-- params: 2
UPDATE "customers" SET "vip" = $1::boolean WHERE ("id" IN (SELECT "customer_id" FROM "orders" WHERE ("amount" > $2::float8)))
