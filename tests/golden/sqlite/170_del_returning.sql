-- params: 1
DELETE FROM "items" WHERE ("sku" = ?1) RETURNING *
