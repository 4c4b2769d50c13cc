-- params: 2
SELECT CASE jsonb_typeof(CAST("doc" AS JSONB) #> CAST($1 AS TEXT[])) WHEN 'number' THEN CAST((CAST("doc" AS JSONB) #>> CAST($1 AS TEXT[])) AS DOUBLE PRECISION) END AS "v" FROM "orders" WHERE ("id" = $2::int8)
