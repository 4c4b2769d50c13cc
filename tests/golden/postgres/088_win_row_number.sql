-- params: 0
SELECT "id", row_number() OVER () AS "n" FROM "orders"
