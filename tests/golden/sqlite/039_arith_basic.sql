-- params: 2
SELECT ((("amount" + ?1) * ?2) - "qty") AS "x" FROM "orders"
