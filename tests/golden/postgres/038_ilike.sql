-- params: 1
SELECT count(*) FROM "customers" WHERE ("name" ILIKE $1 ESCAPE '\')
