-- params: 0
SELECT count("region") AS "n", count(DISTINCT "region") AS "d" FROM "orders"
