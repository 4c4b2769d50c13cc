-- params: 1
SELECT "id" FROM "orders" WHERE (CAST("doc" AS JSONB) @> CAST($1 AS JSONB))
