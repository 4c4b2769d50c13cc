-- params: 1
SELECT CAST($1::int8 AS TEXT) AS "v"
