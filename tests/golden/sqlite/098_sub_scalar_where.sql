-- params: 0
SELECT "id" FROM "orders" WHERE ("amount" > (SELECT avg("amount") FROM "orders"))
