-- params: 2
INSERT INTO "customers" ("id", "name") VALUES (?1, ?2) RETURNING "id", upper("name") AS "n"
