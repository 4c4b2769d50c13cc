-- params: 2
SELECT (CAST(trunc(CAST($1::float8 AS NUMERIC)) AS BIGINT) / NULLIF(CAST(trunc(CAST($2::int8 AS NUMERIC)) AS BIGINT), 0)) AS "q"
