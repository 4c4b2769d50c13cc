-- params: 0
SELECT count("o"."id") AS "n" FROM "orders" AS "o"
