-- params: 1
SELECT (- "amount") AS "a", (- ?1) AS "b" FROM "orders"
