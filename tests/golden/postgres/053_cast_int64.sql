-- params: 1
SELECT CAST(trunc(CAST($1 AS NUMERIC)) AS BIGINT) AS "v"
