-- params: 0
SELECT random() AS "r"
