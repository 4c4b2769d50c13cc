-- params: 2
SELECT json_array("id", "status", ?1) AS "j" FROM "orders" WHERE ("id" = ?2)
