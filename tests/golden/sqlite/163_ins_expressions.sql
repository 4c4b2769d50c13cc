-- params: 3
INSERT INTO "jobs" ("id", "state", "run_at", "attempts") VALUES ((?1 + ?2), lower(?3), datetime(strftime('%Y-%m-%d %H:%M:%S', 'now')), (SELECT count(*) FROM "jobs"))
