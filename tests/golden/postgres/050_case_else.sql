-- params: 5
SELECT CASE WHEN ("amount" > $1::float8) THEN $2 WHEN ("amount" > $3::float8) THEN $4 ELSE $5 END AS "size" FROM "orders"
