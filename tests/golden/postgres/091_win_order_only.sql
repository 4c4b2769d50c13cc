-- params: 0
SELECT "id", row_number() OVER (ORDER BY "created_at" DESC NULLS LAST) AS "n" FROM "orders"
