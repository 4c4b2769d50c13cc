-- params: 2
SELECT "id" FROM "jobs" WHERE (("state" = $1) AND ("run_at" <= CAST(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS TIMESTAMP))) ORDER BY "run_at" LIMIT $2::int8 FOR UPDATE
