-- params: 3
SELECT replace("name", ?1, ?2) AS "r", nullif("country", ?3) AS "c" FROM "customers"
