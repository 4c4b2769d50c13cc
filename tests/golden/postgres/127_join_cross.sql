-- params: 0
SELECT "c"."name", "p"."sku" FROM "customers" AS "c" CROSS JOIN "products" AS "p"
