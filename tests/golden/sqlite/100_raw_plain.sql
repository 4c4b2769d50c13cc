-- params: 0
SELECT "id" FROM "orders" WHERE ("qty" > 1 AND "region" IS NOT NULL)
