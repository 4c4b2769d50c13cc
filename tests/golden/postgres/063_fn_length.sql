-- params: 1
SELECT length($1) AS "n"
