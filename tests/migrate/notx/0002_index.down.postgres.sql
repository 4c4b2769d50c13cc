-- dal: no-transaction
DROP INDEX CONCURRENTLY mt_t_x;
