-- params: 1
WITH "big" AS (SELECT "id" FROM "orders" WHERE ("amount" > ?1)) SELECT "id" FROM "big" UNION SELECT "id" FROM "orders" WHERE ("amount" IS NULL)
