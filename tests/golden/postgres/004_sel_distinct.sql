-- params: 0
SELECT DISTINCT "region" FROM "orders"
