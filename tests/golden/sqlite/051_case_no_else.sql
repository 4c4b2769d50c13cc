-- params: 2
SELECT CASE WHEN ("status" = ?1) THEN ?2 END AS "is_paid" FROM "orders"
