-- params: 1
SELECT "id" FROM "orders" WHERE (CAST("doc" AS JSONB) ? ?1)
