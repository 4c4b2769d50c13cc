-- params: 1
SELECT COALESCE("note", "region", ?1) AS "c" FROM "orders"
