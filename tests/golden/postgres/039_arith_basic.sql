-- params: 2
SELECT ((("amount" + $1::float8) * $2::int8) - "qty") AS "x" FROM "orders"
