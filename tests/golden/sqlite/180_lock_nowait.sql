-- params: 2
SELECT "id" FROM "jobs" WHERE (("state" = ?1) AND ("run_at" <= CAST(strftime('%Y-%m-%d %H:%M:%S', 'now') AS TEXT))) ORDER BY "run_at" LIMIT ?2
