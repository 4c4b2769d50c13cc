-- params: 1
UPDATE "jobs" SET "attempts" = ?1
