-- params: 4
INSERT INTO "counters" ("name", "hits") VALUES (?1, ?2), (?3, ?4) ON CONFLICT ("name") DO UPDATE SET "hits" = ("counters"."hits" + excluded."hits"), "updated_at" = CAST(strftime('%Y-%m-%d %H:%M:%S', 'now') AS TEXT)
