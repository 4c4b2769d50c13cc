-- params: 1
SELECT "region" FROM "orders" UNION SELECT "country" FROM "customers" ORDER BY "region" DESC NULLS LAST LIMIT ?1
