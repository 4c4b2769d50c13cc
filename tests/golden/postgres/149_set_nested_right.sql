-- params: 0
SELECT "id" FROM "customers" EXCEPT SELECT * FROM (SELECT "customer_id" FROM "orders" UNION ALL SELECT "manager_id" FROM "employees") AS "dal_s3"
