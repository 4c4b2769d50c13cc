-- params: 0
SELECT length(strftime('%Y-%m-%d %H:%M:%S', 'now')) AS "n", strftime('%Y-%m-%d %H:%M:%S', 'now') AS "t"
