DROP INDEX mt_t_x;
