-- params: 0
DELETE FROM "archive"
