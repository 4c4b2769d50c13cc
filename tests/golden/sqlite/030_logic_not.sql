-- params: 1
SELECT "id" FROM "orders" WHERE (NOT (("amount" IS NULL) OR (NOT ("paid" = ?1))))
