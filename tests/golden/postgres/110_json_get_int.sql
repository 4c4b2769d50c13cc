-- params: 2
SELECT "id" FROM "orders" WHERE (CASE jsonb_typeof(CAST("doc" AS JSONB) #> CAST($1 AS TEXT[])) WHEN 'number' THEN CAST(trunc(CAST((CAST("doc" AS JSONB) #>> CAST($1 AS TEXT[])) AS NUMERIC)) AS BIGINT) END > $2::int8)
