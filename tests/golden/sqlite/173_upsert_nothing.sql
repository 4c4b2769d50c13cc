-- params: 2
INSERT INTO "counters" ("name", "hits") VALUES (?1, ?2) ON CONFLICT ("name") DO NOTHING
