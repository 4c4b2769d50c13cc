-- params: 0
SELECT "id" FROM "customers" EXCEPT SELECT "customer_id" FROM "orders"
