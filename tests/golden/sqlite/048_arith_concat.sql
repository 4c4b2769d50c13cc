-- params: 1
SELECT ("region" || ?1 || "status") AS "label" FROM "orders"
