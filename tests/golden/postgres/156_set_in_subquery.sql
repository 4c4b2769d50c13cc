-- params: 0
SELECT "name" FROM "customers" WHERE ("id" IN (SELECT "customer_id" FROM "orders" UNION SELECT "manager_id" FROM "employees"))
