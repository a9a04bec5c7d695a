-- OpenID Connect provider (issue 15). Codes and refresh tokens are stored as keyed MACs, never
-- as themselves; times are unix milliseconds; scope sets are space-separated and sorted.

-- Apps added with `siwe-server clients add` (those of config.toml are not stored).
CREATE TABLE oidc_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_mac                BLOB,             -- NULL: a public client
    redirect_uris             TEXT NOT NULL,    -- JSON array
    post_logout_redirect_uris TEXT NOT NULL,    -- JSON array
    scopes                    TEXT NOT NULL,    -- allowed scopes
    trusted                   INTEGER NOT NULL, -- 1: no consent page
    subject                   TEXT NOT NULL,    -- "public" or "pairwise"
    id_token_alg              TEXT NOT NULL,    -- "RS256" or "EdDSA"
    created_at                INTEGER NOT NULL
) STRICT;

-- What a person allowed an app (asked once per app and scope set).
CREATE TABLE oidc_consents (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT, WITHOUT ROWID;

-- Authorization codes: single use; `grant_id` is set by the exchange, so a replay can revoke
-- what the first use created.
CREATE TABLE oidc_codes (
    code_mac       BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id     TEXT,
    redirect_uri   TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    grant_id       TEXT,
    used_at        INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX oidc_codes_by_expiry ON oidc_codes(expires_at);

-- A grant: what one code exchange created (one refresh-token family). Access tokens name it,
-- so revoking it ends them too.
CREATE TABLE oidc_grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    scopes     TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX oidc_grants_by_user ON oidc_grants(user_id, client_id);
CREATE INDEX oidc_grants_by_client ON oidc_grants(client_id);
CREATE INDEX oidc_grants_by_expiry ON oidc_grants(expires_at);
CREATE INDEX oidc_grants_revoked ON oidc_grants(revoked_at) WHERE revoked_at IS NOT NULL;

-- Refresh tokens, rotated on use: a used one presented again revokes its whole grant.
CREATE TABLE oidc_refresh_tokens (
    token_mac  BLOB PRIMARY KEY,
    grant_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX oidc_refresh_by_grant ON oidc_refresh_tokens(grant_id, expires_at);
CREATE INDEX oidc_refresh_by_expiry ON oidc_refresh_tokens(expires_at);
