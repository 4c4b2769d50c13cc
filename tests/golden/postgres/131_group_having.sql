-- params: 2
SELECT "customer_id", sum("amount") AS "total" FROM "orders" GROUP BY "customer_id" HAVING ((sum("amount") > $1::float8) AND (count(*) >= $2::int8))
