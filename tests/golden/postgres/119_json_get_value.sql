-- params: 2
SELECT CASE jsonb_typeof(CAST($2 AS JSONB) #> CAST($1 AS TEXT[])) WHEN 'number' THEN CAST(trunc(CAST((CAST($2 AS JSONB) #>> CAST($1 AS TEXT[])) AS NUMERIC)) AS BIGINT) END AS "v"
