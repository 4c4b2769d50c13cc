-- params: 1
SELECT CAST(strftime('%m', "created_at") AS INTEGER) AS "m", CAST(strftime('%d', "shipped_on") AS INTEGER) AS "d" FROM "orders" WHERE (CAST(strftime('%Y', "created_at") AS INTEGER) = ?1) ORDER BY "id" NULLS LAST
