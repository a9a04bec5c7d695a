-- Sessions opened by a wallet contract (EIP-1271/6492) rather than a key (issue 16): the
-- signature the contract accepted, kept to ask it again (`siwe.recheck_contract_sessions_secs`).
-- One row per session; a re-authentication by the same wallet replaces it. Times are Unix ms.
CREATE TABLE contract_sessions (
    session_id   TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    chain_id     INTEGER NOT NULL,
    address      TEXT NOT NULL,                -- EIP-55 form: the wallet contract
    message_hash BLOB NOT NULL,                -- EIP-191 hash of the exact message signed
    signature    BLOB NOT NULL,                -- as received (an EIP-6492 wrapper included)
    checked_at   INTEGER NOT NULL              -- when the contract last accepted it
) STRICT, WITHOUT ROWID;
CREATE INDEX contract_sessions_by_check ON contract_sessions(checked_at);

-- Sessions are ended by setting revoked_at (sign-out, ending one or all, unlinking a wallet,
-- a failed re-check) and deleted once expired (the cascade above). An ended session's
-- signature is of no more use: it goes with the ending, whichever path ends it.
CREATE TRIGGER contract_sessions_end_with_session
AFTER UPDATE OF revoked_at ON sessions
WHEN NEW.revoked_at IS NOT NULL
BEGIN
    DELETE FROM contract_sessions WHERE session_id = NEW.id;
END;
