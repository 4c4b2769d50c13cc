-- dal: no-transaction
CREATE INDEX CONCURRENTLY mt_t_x ON mt_t (x);
