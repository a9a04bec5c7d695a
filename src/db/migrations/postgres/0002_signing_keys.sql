-- Token signing keys, shared by every instance (with SQLite they stay in jwt-keys.json beside
-- the database file, mode 0600). One row: the key set as that file holds it, and a version
-- that each change raises, which instances poll to see a rotation.
CREATE TABLE signing_keys (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    keys    TEXT NOT NULL,
    version BIGINT NOT NULL
);
