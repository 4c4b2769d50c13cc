-- params: 1
SELECT "id" FROM "orders" UNION SELECT * FROM (WITH "x" AS (SELECT "id" FROM "items" WHERE ("qty" > ?1)) SELECT "id" FROM "x") AS "dal_s3"
