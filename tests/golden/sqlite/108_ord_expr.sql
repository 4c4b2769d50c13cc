-- params: 0
SELECT "name" FROM "customers" ORDER BY length("name") DESC NULLS FIRST, lower("name") NULLS LAST
