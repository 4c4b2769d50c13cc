-- dal: no-transaction
CREATE INDEX mt_t_x ON mt_t (x);
VACUUM;
