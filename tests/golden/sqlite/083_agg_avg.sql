-- params: 0
SELECT avg("qty") AS "a" FROM "orders"
