-- Cross-device sign-in (issue 17): a desktop asks for a pairing, a phone's wallet approves it,
-- the desktop claims its session with a secret only it holds. Times are Unix ms.
CREATE TABLE pairings (
    id           TEXT PRIMARY KEY,             -- 128 random bits, base64url: in the QR code and link
    code         TEXT NOT NULL UNIQUE,         -- 8 letters, compared or typed on the phone
    secret_mac   BLOB NOT NULL,                -- keyed MAC of the desktop's secret, never the secret
    user_agent   TEXT,                         -- the desktop's, as it asked
    ip           TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    -- 'expired' is never stored: past expires_at anything but 'claimed' is expired.
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'declined', 'claimed')),
    -- Set by the approval: the account the signing wallet signs in to.
    user_id      TEXT REFERENCES users(id) ON DELETE CASCADE,
    address      TEXT,                         -- EIP-55 form
    chain_id     INTEGER,
    approved_at  INTEGER,
    created_account INTEGER NOT NULL DEFAULT 0 CHECK (created_account IN (0, 1))
) STRICT, WITHOUT ROWID;
-- Live pairings are counted against pairing.max_pending; old ones are deleted by expiry.
CREATE INDEX pairings_by_expiry ON pairings(expires_at);
