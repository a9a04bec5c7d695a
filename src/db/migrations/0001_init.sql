-- Users, their wallets, one-time nonces and sessions. Times are Unix milliseconds.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    email          TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE wallets (
    address         TEXT PRIMARY KEY,          -- EIP-55 form; one account per address
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chain_id        INTEGER NOT NULL,
    linked_at       INTEGER NOT NULL,
    last_sign_in_at INTEGER
) STRICT;
CREATE INDEX wallets_by_user ON wallets(user_id);

CREATE TABLE nonces (
    nonce      TEXT PRIMARY KEY,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX nonces_by_expiry ON nonces(expires_at);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,         -- keyed MAC of the token; the token itself is never stored
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address      TEXT NOT NULL,
    chain_id     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER,
    ip           TEXT,
    user_agent   TEXT
) STRICT;
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
