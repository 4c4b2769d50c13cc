-- params: 2
SELECT CASE WHEN json_type(?2, ?1) IN ('integer', 'real') THEN CAST(json_extract(?2, ?1) AS INTEGER) END AS "v"
