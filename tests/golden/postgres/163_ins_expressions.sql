-- params: 3
INSERT INTO "jobs" ("id", "state", "run_at", "attempts") VALUES (($1::int8 + $2::int8), lower($3), CAST(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS TIMESTAMP), (SELECT count(*) FROM "jobs"))
