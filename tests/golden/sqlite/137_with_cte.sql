-- params: 1
WITH "paid" AS (SELECT "id", "amount" FROM "orders" WHERE ("status" = ?1)) SELECT * FROM "paid"
