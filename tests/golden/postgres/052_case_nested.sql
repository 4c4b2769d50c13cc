-- params: 4
SELECT "id" FROM "orders" WHERE (CASE WHEN ("paid" = $1::boolean) THEN CASE WHEN ("region" IS NULL) THEN $2 ELSE "region" END ELSE $3 END = $4)
