-- params: 2
SELECT CASE WHEN json_type("doc", ?1) IN ('integer', 'real') THEN CAST(json_extract("doc", ?1) AS INTEGER) END AS "v" FROM "orders" WHERE ("id" = ?2)
