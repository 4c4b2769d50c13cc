-- params: 2
SELECT (?1 + ?2) AS "three"
