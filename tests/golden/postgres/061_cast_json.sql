-- params: 1
SELECT CAST($1 AS JSONB) AS "v"
