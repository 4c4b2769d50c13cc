-- params: 0
SELECT count(*) AS "n" FROM "orders"
