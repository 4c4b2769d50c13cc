-- params: 2
SELECT substr("name", ?1, ?2) AS "s" FROM "customers"
