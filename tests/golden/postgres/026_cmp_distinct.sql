-- params: 1
SELECT "id" FROM "orders" WHERE (("region" IS NOT DISTINCT FROM $1) AND ("note" IS DISTINCT FROM "status"))
