//! The OpenID Connect provider's tables: CLI-managed clients, remembered consents, codes,
//! grants and refresh tokens. Codes and refresh tokens are found by their MACs; each is spent
//! by one statement, so of racing requests exactly one gets it.

use rusqlite::params;

use super::{Conn, Row};

use super::prefixed;
use crate::{
    domain::{
        id::UserId,
        oidc::{
            grant::{AuthorizationCode, Consent, Grant, LiveGrants, Redeemed},
            pkce::CodeChallenge,
            scope::Scopes,
        },
    },
    error::AppResult,
};

mod clients;

pub use clients::{
    delete_client, find_client, insert_client, list_clients, set_client_secret, stored_client_ids,
};

// ---- codes

const CODE_COLUMNS: &str = "client_id, user_id, session_id, redirect_uri, scopes, nonce, \
                            code_challenge, auth_time, created_at, expires_at";

fn code_from_row(row: &Row) -> AppResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        client_id: row.get(0)?,
        user_id: row.get(1)?,
        session_id: row.get(2)?,
        redirect_uri: row.get(3)?,
        scopes: scopes_of(row.get(4)?),
        nonce: row.get(5)?,
        code_challenge: row
            .get::<Option<String>>(6)?
            .map(CodeChallenge::from_stored),
        auth_time: row.get(7)?,
        created_at: row.get(8)?,
        expires_at: row.get(9)?,
    })
}

fn scopes_of(text: String) -> Scopes {
    Scopes::parse_known(&text)
}

pub fn insert_code(conn: &Conn, mac: &[u8; 32], code: &AuthorizationCode) -> AppResult<()> {
    conn.execute(
        sql!(
            "INSERT INTO oidc_codes (code_mac, {CODE_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            mac,
            code.client_id,
            code.user_id,
            code.session_id,
            code.redirect_uri,
            code.scopes.to_string(),
            code.nonce,
            code.code_challenge.as_ref().map(CodeChallenge::as_str),
            code.auth_time,
            code.created_at,
            code.expires_at
        ],
    )?;
    Ok(())
}

/// Spends a code: `Fresh` the first time before it expires; a code used before revokes the
/// grant its first use created (`Replayed`: let the transaction commit).
pub fn redeem_code(
    conn: &Conn,
    mac: &[u8; 32],
    now_ms: i64,
) -> AppResult<Redeemed<AuthorizationCode>> {
    let fresh = conn.query_opt(
        sql!(
            "UPDATE oidc_codes SET used_at = ?2
              WHERE code_mac = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING {CODE_COLUMNS}"
        ),
        params![mac, now_ms],
        code_from_row,
    )?;
    if let Some(code) = fresh {
        return Ok(Redeemed::Fresh(code));
    }
    let used: Option<Option<String>> = conn.query_opt(
        "SELECT grant_id FROM oidc_codes WHERE code_mac = ?1 AND used_at IS NOT NULL",
        params![mac],
        |r| r.get(0),
    )?;
    match used {
        None => Ok(Redeemed::Unknown),
        Some(grant_id) => {
            if let Some(id) = &grant_id {
                revoke_grant(conn, id, now_ms)?;
            }
            Ok(Redeemed::Replayed { grant_id })
        }
    }
}

/// Records the grant a code's exchange created, for a replay to revoke.
pub fn set_code_grant(conn: &Conn, mac: &[u8; 32], grant_id: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE oidc_codes SET grant_id = ?2 WHERE code_mac = ?1",
        params![mac, grant_id],
    )?;
    Ok(())
}

// ---- grants

const GRANT_COLUMNS: &str =
    "id, client_id, user_id, session_id, scopes, auth_time, created_at, expires_at, revoked_at";

fn grant_from_row(row: &Row) -> AppResult<Grant> {
    Ok(Grant {
        id: row.get(0)?,
        client_id: row.get(1)?,
        user_id: row.get(2)?,
        session_id: row.get(3)?,
        scopes: scopes_of(row.get(4)?),
        auth_time: row.get(5)?,
        created_at: row.get(6)?,
        expires_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

pub fn insert_grant(conn: &Conn, grant: &Grant) -> AppResult<()> {
    conn.execute(
        sql!(
            "INSERT INTO oidc_grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            grant.id,
            grant.client_id,
            grant.user_id,
            grant.session_id,
            grant.scopes.to_string(),
            grant.auth_time,
            grant.created_at,
            grant.expires_at,
            grant.revoked_at
        ],
    )?;
    Ok(())
}

/// The grant, live or not (see `Grant::is_live`).
pub fn find_grant(conn: &Conn, id: &str) -> AppResult<Option<Grant>> {
    conn.query_opt(
        sql!("SELECT {GRANT_COLUMNS} FROM oidc_grants WHERE id = ?1"),
        params![id],
        grant_from_row,
    )
}

/// Ends a grant (its refresh and access tokens); false when it was already revoked or unknown.
pub fn revoke_grant(conn: &Conn, id: &str, now_ms: i64) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE oidc_grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now_ms],
    )? == 1)
}

/// Ends every grant of the account to the app; how many were live.
pub fn revoke_grants_of(
    conn: &Conn,
    user_id: &UserId,
    client_id: &str,
    now_ms: i64,
) -> AppResult<usize> {
    conn.execute(
        "UPDATE oidc_grants SET revoked_at = ?3
              WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL",
        params![user_id, client_id, now_ms],
    )
}

/// The account's live grants, one row per app, newest first.
pub fn live_grants_of(conn: &Conn, user_id: &UserId, now_ms: i64) -> AppResult<Vec<LiveGrants>> {
    let rows = conn.query_vec(
        "SELECT g.client_id, string_agg(g.scopes, ' '), max(g.created_at),
                max(CASE WHEN EXISTS (SELECT 1 FROM oidc_refresh_tokens t WHERE t.grant_id = g.id
                               AND t.used_at IS NULL AND t.expires_at > ?2) THEN 1 ELSE 0 END)
           FROM oidc_grants g
          WHERE g.user_id = ?1 AND g.revoked_at IS NULL AND g.expires_at > ?2
          GROUP BY g.client_id ORDER BY max(g.created_at) DESC",
        params![user_id, now_ms],
        |row| {
            Ok(LiveGrants {
                client_id: row.get(0)?,
                scopes: scopes_of(row.get(1)?),
                last_created_at: row.get(2)?,
                has_refresh_token: row.get(3)?,
            })
        },
    )?;
    Ok(rows)
}

// ---- refresh tokens

pub fn insert_refresh_token(
    conn: &Conn,
    mac: &[u8; 32],
    grant_id: &str,
    created_at: i64,
    expires_at: i64,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO oidc_refresh_tokens (token_mac, grant_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![mac, grant_id, created_at, expires_at],
    )?;
    Ok(())
}

/// Spends a refresh token: `Fresh` with its live grant the first time; a token used before
/// revokes its whole grant (`Replayed`: let the transaction commit); expired tokens and those
/// of ended grants are `Unknown`.
pub fn redeem_refresh_token(
    conn: &Conn,
    mac: &[u8; 32],
    now_ms: i64,
) -> AppResult<Redeemed<Grant>> {
    let fresh: Option<String> = conn.query_opt(
        "UPDATE oidc_refresh_tokens SET used_at = ?2
              WHERE token_mac = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING grant_id",
        params![mac, now_ms],
        |r| r.get(0),
    )?;
    if let Some(grant_id) = fresh {
        return Ok(match find_grant(conn, &grant_id)? {
            Some(grant) if grant.is_live(now_ms) => Redeemed::Fresh(grant),
            _ => Redeemed::Unknown,
        });
    }
    let used: Option<String> = conn.query_opt(
        "SELECT grant_id FROM oidc_refresh_tokens WHERE token_mac = ?1 AND used_at IS NOT NULL",
        params![mac],
        |r| r.get(0),
    )?;
    match used {
        None => Ok(Redeemed::Unknown),
        Some(grant_id) => {
            revoke_grant(conn, &grant_id, now_ms)?;
            Ok(Redeemed::Replayed {
                grant_id: Some(grant_id),
            })
        }
    }
}

/// The live grant of an unused, unexpired refresh token (for revocation and introspection).
pub fn find_refresh_token_grant(
    conn: &Conn,
    mac: &[u8; 32],
    now_ms: i64,
) -> AppResult<Option<Grant>> {
    let grant = conn.query_opt(
        sql!(
            "SELECT {} FROM oidc_refresh_tokens t JOIN oidc_grants g ON g.id = t.grant_id
          WHERE t.token_mac = ?1 AND t.used_at IS NULL AND t.expires_at > ?2",
            prefixed("g", GRANT_COLUMNS)
        ),
        params![mac, now_ms],
        grant_from_row,
    )?;
    Ok(grant.filter(|g| g.is_live(now_ms)))
}

// ---- consents

pub fn consent(conn: &Conn, user_id: &UserId, client_id: &str) -> AppResult<Option<Consent>> {
    conn.query_opt(
        "SELECT client_id, scopes, granted_at FROM oidc_consents
              WHERE user_id = ?1 AND client_id = ?2",
        params![user_id, client_id],
        consent_from_row,
    )
}

fn consent_from_row(row: &Row) -> AppResult<Consent> {
    Ok(Consent {
        client_id: row.get(0)?,
        scopes: scopes_of(row.get(1)?),
        granted_at: row.get(2)?,
    })
}

/// Remembers that the account allowed the app `scopes`, added to what it allowed before.
pub fn save_consent(
    conn: &Conn,
    user_id: &UserId,
    client_id: &str,
    scopes: &Scopes,
    now_ms: i64,
) -> AppResult<()> {
    let all = match consent(conn, user_id, client_id)? {
        Some(earlier) => earlier.scopes.union(scopes),
        None => scopes.clone(),
    };
    conn.execute(
        "INSERT INTO oidc_consents (user_id, client_id, scopes, granted_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = ?3, granted_at = ?4",
        params![user_id, client_id, all.to_string(), now_ms],
    )?;
    Ok(())
}

/// The account's consents, most recent first.
pub fn consents_of(conn: &Conn, user_id: &UserId) -> AppResult<Vec<Consent>> {
    let rows = conn.query_vec(
        "SELECT client_id, scopes, granted_at FROM oidc_consents
          WHERE user_id = ?1 ORDER BY granted_at DESC, client_id",
        params![user_id],
        consent_from_row,
    )?;
    Ok(rows)
}

pub fn delete_consent(conn: &Conn, user_id: &UserId, client_id: &str) -> AppResult<bool> {
    Ok(conn.execute(
        "DELETE FROM oidc_consents WHERE user_id = ?1 AND client_id = ?2",
        params![user_id, client_id],
    )? == 1)
}

// ---- cleanup

/// Deletes up to `batch` each of expired codes and refresh tokens, and of grants that ended
/// (expired or revoked) and have no refresh token left that has not expired: while one could
/// still be presented, its grant stays to say it was revoked.
pub fn delete_expired(conn: &Conn, now_ms: i64, batch: u32) -> AppResult<usize> {
    let codes = conn.execute(
        "DELETE FROM oidc_codes WHERE code_mac IN
               (SELECT code_mac FROM oidc_codes WHERE expires_at <= ?1 LIMIT ?2)",
        params![now_ms, batch],
    )?;
    let refresh_tokens = conn.execute(
        "DELETE FROM oidc_refresh_tokens WHERE token_mac IN
               (SELECT token_mac FROM oidc_refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)",
        params![now_ms, batch],
    )?;
    let grants = conn.execute(
        "DELETE FROM oidc_grants WHERE id IN
               (SELECT g.id FROM oidc_grants g
                 WHERE (g.expires_at <= ?1 OR g.revoked_at IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM oidc_refresh_tokens t
                                    WHERE t.grant_id = g.id AND t.expires_at > ?1)
                 LIMIT ?2)",
        params![now_ms, batch],
    )?;
    Ok(codes + refresh_tokens + grants)
}
