-- params: 2
SELECT (?1 || "id") AS "ref" FROM "orders" WHERE ("id" = ?2)
