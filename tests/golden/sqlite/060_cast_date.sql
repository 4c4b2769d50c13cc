-- params: 1
SELECT date(?1) AS "v"
