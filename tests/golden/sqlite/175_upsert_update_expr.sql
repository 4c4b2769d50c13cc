-- params: 3
INSERT INTO "counters" ("name", "hits") VALUES (?1, ?2), (?3, ?2) ON CONFLICT ("name") DO UPDATE SET "hits" = ("counters"."hits" + excluded."hits"), "updated_at" = datetime(strftime('%Y-%m-%d %H:%M:%S', 'now'))
