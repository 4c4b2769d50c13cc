-- params: 1
SELECT abs(("amount" - ?1)) AS "d" FROM "orders"
