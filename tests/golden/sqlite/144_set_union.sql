-- params: 0
SELECT "region" FROM "orders" UNION SELECT "country" FROM "customers"
