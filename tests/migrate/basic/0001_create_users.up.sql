-- The first table.
CREATE TABLE mt_users (
    id BIGINT PRIMARY KEY,
    email TEXT NOT NULL
);
