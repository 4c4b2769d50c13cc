-- params: 3
SELECT jsonb_build_object($1::text, "id", $2::text, "region") AS "j" FROM "orders" WHERE ("id" = $3::int8)
