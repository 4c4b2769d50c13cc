-- params: 1
SELECT * FROM (SELECT "customer_id" FROM "orders" INTERSECT SELECT "id" FROM "customers") AS "dal_s2" UNION SELECT "id" FROM "employees" WHERE ("name" = $1)
