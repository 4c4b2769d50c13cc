-- params: 1
SELECT datetime(?1) AS "v"
