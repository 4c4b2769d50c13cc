-- params: 2
SELECT "id" FROM "jobs" WHERE (("state" = ?1) AND ("run_at" <= datetime(strftime('%Y-%m-%d %H:%M:%S', 'now')))) ORDER BY "run_at" NULLS LAST LIMIT ?2
