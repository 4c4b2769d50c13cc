DROP TABLE mt_posts;
DELETE FROM mt_users WHERE id = 1;
