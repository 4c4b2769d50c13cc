-- params: 2
SELECT CASE json_type("doc", ?1) WHEN 'text' THEN json_extract("doc", ?1) WHEN 'null' THEN NULL ELSE ("doc" -> ?1) END AS "v" FROM "orders" WHERE ("id" = ?2)
