-- params: 4
SELECT jsonb_build_object($1::text, "name", $2::text, jsonb_build_array($3::text, $4::text)) AS "j" FROM "customers"
