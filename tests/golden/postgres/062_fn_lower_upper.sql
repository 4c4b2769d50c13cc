-- params: 0
SELECT lower("name") AS "l", upper("name") AS "u" FROM "customers"
