-- params: 5
SELECT CASE WHEN ("amount" > ?1) THEN ?2 WHEN ("amount" > ?3) THEN ?4 ELSE ?5 END AS "size" FROM "orders"
