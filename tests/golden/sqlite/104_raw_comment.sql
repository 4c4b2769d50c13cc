-- params: 1
SELECT "id" FROM "orders" WHERE ("qty" > ?1 -- more than one
) ORDER BY "id" NULLS LAST
