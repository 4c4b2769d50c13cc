-- params: 2
SELECT "id" FROM "orders" WHERE (CASE WHEN json_type("doc", ?1) IN ('integer', 'real') THEN CAST(json_extract("doc", ?1) AS INTEGER) END > ?2)
