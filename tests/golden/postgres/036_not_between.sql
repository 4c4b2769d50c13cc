-- params: 2
SELECT "id" FROM "orders" WHERE (NOT ("qty" BETWEEN $1 AND $2::int8))
