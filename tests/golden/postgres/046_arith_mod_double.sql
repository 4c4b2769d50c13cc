-- params: 1
SELECT (CAST(trunc(CAST("amount" AS NUMERIC)) AS BIGINT) % NULLIF(CAST(trunc(CAST($1::int8 AS NUMERIC)) AS BIGINT), 0)) AS "r" FROM "orders"
