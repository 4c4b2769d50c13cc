-- params: 2
SELECT jsonb_build_array("id", "status", $1::int8) AS "j" FROM "orders" WHERE ("id" = $2::int8)
