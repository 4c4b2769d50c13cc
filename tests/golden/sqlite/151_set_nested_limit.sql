-- params: 1
SELECT * FROM (SELECT "id" FROM "orders" UNION ALL SELECT "id" FROM "items" ORDER BY "id" DESC NULLS FIRST LIMIT ?1) AS "dal_s2" UNION SELECT "id" FROM "jobs"
