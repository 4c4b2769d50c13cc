-- params: 1
SELECT count(*) FROM "customers" WHERE ("name" LIKE ?1 ESCAPE '\')
