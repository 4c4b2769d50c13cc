-- params: 0
SELECT * FROM "orders"
