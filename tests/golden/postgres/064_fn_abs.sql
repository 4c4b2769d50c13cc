-- params: 1
SELECT abs(("amount" - $1::float8)) AS "d" FROM "orders"
