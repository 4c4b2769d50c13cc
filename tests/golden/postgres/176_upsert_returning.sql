-- params: 2
INSERT INTO "counters" ("name", "hits") VALUES ($1, $2::int8) ON CONFLICT ("name") DO UPDATE SET "hits" = excluded."hits" RETURNING "hits"
