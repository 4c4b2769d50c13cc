-- params: 2
SELECT ($1::int8 + $2::int8) AS "three"
