DELETE FROM mt_v WHERE id = 3;
UPDATE mt_v SET who = who || ' down-sqlite';
