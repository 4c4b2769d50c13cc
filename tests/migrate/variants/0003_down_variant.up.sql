INSERT INTO mt_v VALUES (3, 'portable');
