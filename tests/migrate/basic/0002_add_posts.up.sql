CREATE TABLE mt_posts (
    id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES mt_users (id),
    title TEXT NOT NULL
);
INSERT INTO mt_users VALUES (1, 'a@example.org');
-- A ';' inside a string literal does not end the statement.
INSERT INTO mt_posts VALUES (1, 1, 'hello; world');
