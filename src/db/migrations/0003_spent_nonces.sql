-- Nonces are no longer stored when issued: each carries its issue time and a MAC that binds it
-- to what it was issued for (see src/domain/token.rs). A nonce is recorded here when it is
-- used, until it expires, so that it works only once. Nonces issued by an older version were
-- rows of the old table; they stop working, and whoever was signing in fetches a new one.
DROP TABLE nonces;
CREATE TABLE spent_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX spent_nonces_by_expiry ON spent_nonces(expires_at);
