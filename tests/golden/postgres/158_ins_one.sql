-- params: 3
INSERT INTO "customers" ("id", "name", "country") VALUES ($1::int8, $2, $3)
