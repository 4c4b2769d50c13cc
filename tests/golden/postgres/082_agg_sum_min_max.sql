-- params: 0
SELECT sum("qty") AS "s", min("amount") AS "lo", max("created_at") AS "hi" FROM "orders"
