-- params: 1
SELECT (- "amount") AS "a", (- $1::int8) AS "b" FROM "orders"
