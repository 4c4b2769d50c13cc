-- params: 4
SELECT json_object(?1, "name", ?2, json_array(?3, ?4)) AS "j" FROM "customers"
