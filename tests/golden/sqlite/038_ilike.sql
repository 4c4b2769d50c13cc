-- params: 1
SELECT count(*) FROM "customers" WHERE (lower("name") LIKE lower(?1) ESCAPE '\')
