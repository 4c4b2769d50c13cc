DROP TABLE mt_r;
DROP TABLE mt_r_log;
DROP FUNCTION mt_r_fn();
