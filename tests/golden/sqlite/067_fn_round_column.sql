-- params: 1
SELECT round(avg("amount"), CAST(?1 AS INTEGER)) AS "r" FROM "orders"
