-- params: 3
SELECT json_object(?1, "id", ?2, "region") AS "j" FROM "orders" WHERE ("id" = ?3)
