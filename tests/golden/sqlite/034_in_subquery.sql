-- params: 1
SELECT "id" FROM "orders" WHERE ("customer_id" IN (SELECT "id" FROM "customers" WHERE ("country" = ?1)))
