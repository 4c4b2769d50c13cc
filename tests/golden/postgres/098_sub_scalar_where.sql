-- params: 0
SELECT "id" FROM "orders" WHERE ("amount" > (SELECT CAST(avg("amount") AS DOUBLE PRECISION) FROM "orders"))
