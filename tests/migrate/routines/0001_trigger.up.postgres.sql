CREATE TABLE mt_r (x BIGINT);
CREATE TABLE mt_r_log (x BIGINT, note TEXT);
-- The ';' inside the $$ body belong to it.
CREATE OR REPLACE FUNCTION mt_r_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mt_r_log VALUES (NEW.x, 'a;b');
    INSERT INTO mt_r_log VALUES (NEW.x + 1, 'c');
    RETURN NEW;
END;
$$;
CREATE TRIGGER mt_r_ins AFTER INSERT ON mt_r
    FOR EACH ROW EXECUTE FUNCTION mt_r_fn();
INSERT INTO mt_r VALUES (10);
