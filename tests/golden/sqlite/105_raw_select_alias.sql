-- params: 1
SELECT (upper("region") || ?1) AS "r" FROM "orders"
