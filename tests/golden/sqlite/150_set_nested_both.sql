-- params: 0
SELECT * FROM (SELECT "id" FROM "customers" EXCEPT SELECT "customer_id" FROM "orders") AS "dal_s2" UNION SELECT * FROM (SELECT "id" FROM "employees" INTERSECT SELECT * FROM (SELECT "order_id" FROM "items" UNION SELECT "id" FROM "jobs") AS "dal_s5") AS "dal_s3"
