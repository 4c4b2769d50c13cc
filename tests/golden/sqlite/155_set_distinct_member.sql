-- params: 1
SELECT DISTINCT "status" FROM "orders" UNION ALL SELECT "state" FROM "jobs" WHERE ("state" <> ?1)
