-- params: 1
SELECT "id" FROM "orders" WHERE (("region" IS ?1) AND ("note" IS NOT "status"))
