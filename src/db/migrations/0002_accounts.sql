-- Several wallets per account with one primary, link challenges, email verification, sessions'
-- last use, and the security event log.
ALTER TABLE wallets ADD COLUMN is_primary INTEGER NOT NULL DEFAULT 0;
UPDATE wallets SET is_primary = 1
 WHERE rowid IN (SELECT (SELECT w.rowid FROM wallets w WHERE w.user_id = u.id
                          ORDER BY w.linked_at, w.address LIMIT 1)
                   FROM users u);
CREATE UNIQUE INDEX wallets_one_primary ON wallets(user_id) WHERE is_primary = 1;

-- What a nonce may be used for: 'sign_in', or 'link' by one account for one address.
ALTER TABLE nonces ADD COLUMN purpose TEXT NOT NULL DEFAULT 'sign_in';
ALTER TABLE nonces ADD COLUMN user_id TEXT;
ALTER TABLE nonces ADD COLUMN address TEXT;

-- One account per email address, whatever its case.
CREATE UNIQUE INDEX users_by_email ON users(lower(email)) WHERE email IS NOT NULL;

-- Single-use links sent by email ('verify_email', or 'link_wallet' to attach a wallet and sign in).
CREATE TABLE email_tokens (
    token_hash BLOB PRIMARY KEY,            -- keyed MAC of the token in the link
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    address    TEXT,
    chain_id   INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX email_tokens_by_expiry ON email_tokens(expires_at);

CREATE TABLE security_events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    user_id TEXT,                           -- null when no account is involved
    kind    TEXT NOT NULL,
    address TEXT,
    ip      TEXT,
    detail  TEXT
) STRICT;
CREATE INDEX security_events_by_user ON security_events(user_id, at);
CREATE INDEX security_events_by_time ON security_events(at);
