-- params: 1
WITH "totals" ("rid", "total") AS (SELECT "region", sum("amount") FROM "orders" GROUP BY "region") SELECT "rid", "total" FROM "totals" WHERE ("total" > ?1)
