INSERT INTO mt_v VALUES (1, 'sqlite');
