CREATE TABLE mt_r (x BIGINT);
CREATE TABLE mt_r_log (x BIGINT, note TEXT);
-- The ';' inside the trigger body belong to it.
CREATE TRIGGER mt_r_ins AFTER INSERT ON mt_r
BEGIN
    INSERT INTO mt_r_log VALUES (NEW.x, 'a;b');
    INSERT INTO mt_r_log VALUES (NEW.x + 1, 'c');
END;
INSERT INTO mt_r VALUES (10);
