-- params: 3
INSERT INTO "counters" ("name", "hits") VALUES ($1, $2::int8), ($3, $2::int8) ON CONFLICT ("name") DO UPDATE SET "hits" = ("counters"."hits" + excluded."hits"), "updated_at" = CAST(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS TIMESTAMP)
