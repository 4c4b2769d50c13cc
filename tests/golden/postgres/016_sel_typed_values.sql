-- params: 4
SELECT $1::int8 AS "i", $2::float8 AS "d", $3::boolean AS "b", $4::bytea AS "x"
