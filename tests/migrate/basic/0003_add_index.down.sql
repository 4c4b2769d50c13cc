DROP INDEX mt_users_email;
