-- params: 1
SELECT "id" FROM "orders" WHERE ("note" IS NOT DISTINCT FROM $1)
