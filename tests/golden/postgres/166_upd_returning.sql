-- params: 2
UPDATE "counters" SET "hits" = ("hits" + $1::int8) WHERE ("name" = $2) RETURNING "name", "hits" AS "now"
