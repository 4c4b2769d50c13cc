CREATE INDEX mt_users_email ON mt_users (email);
