-- The ENS cache: each wallet's primary name (NULL: none) and avatar as last resolved, kept until
-- expires_at and then resolved again in the background. Display only.
CREATE TABLE ens_names (
    address     TEXT PRIMARY KEY,       -- EIP-55, as in wallets
    name        TEXT,
    avatar      TEXT,
    resolved_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ens_names_by_expiry ON ens_names(expires_at);
