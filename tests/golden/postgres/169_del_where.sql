-- params: 1
DELETE FROM "jobs" WHERE ("state" = $1)
