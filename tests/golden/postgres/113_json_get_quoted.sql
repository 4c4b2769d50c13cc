-- params: 2
SELECT (CAST("doc" AS JSONB) #>> CAST($1 AS TEXT[])) AS "v" FROM "orders" WHERE ("id" = $2::int8)
