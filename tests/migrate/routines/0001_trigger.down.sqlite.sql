DROP TABLE mt_r;
DROP TABLE mt_r_log;
