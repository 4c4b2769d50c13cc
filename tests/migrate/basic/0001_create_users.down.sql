DROP TABLE mt_users;
