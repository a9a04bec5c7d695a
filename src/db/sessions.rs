//! Sessions: one row per sign-in, found by its token's key (a time prefix and a keyed MAC;
//! see `domain::token::Keys::session_token_key`).

use rusqlite::params;

use super::{Conn, Row};

use super::{prefixed, users};
use crate::{
    domain::{
        account::User,
        address::Address,
        id::{SessionId, UserId},
        session::Session,
    },
    error::AppResult,
};

const COLUMNS: &str = "id, user_id, address, chain_id, created_at, expires_at, last_seen_at, ip, \
                       user_agent, authenticated_at";
/// Read after the stored columns, of a session aliased `s`: whether a wallet contract signed
/// it in (see `contract_sessions`).
const CONTRACT_WALLET: &str =
    "EXISTS (SELECT 1 FROM contract_sessions c WHERE c.session_id = s.id)";
/// The columns `from_row` reads.
const COLUMN_COUNT: usize = 11;

fn from_row(row: &Row) -> AppResult<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_id: row.get(1)?,
        address: row.get(2)?,
        chain_id: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        last_seen_at: row.get(6)?,
        ip: row.get(7)?,
        user_agent: row.get(8)?,
        authenticated_at: row.get(9)?,
        contract_wallet: row.get(10)?,
    })
}

pub fn insert(conn: &Conn, session: &Session, token_key: &[u8]) -> AppResult<()> {
    conn.execute(sql!(
        "INSERT INTO sessions (token_hash, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ), params![
        token_key,
        session.id,
        session.user_id,
        session.address,
        session.chain_id,
        session.created_at,
        session.expires_at,
        session.last_seen_at,
        session.ip,
        session.user_agent,
        session.authenticated_at
    ])?;
    Ok(())
}

/// The live (not revoked, not expired) session whose token has this MAC, and its user, in
/// one statement (this runs on every authenticated request).
pub fn find_live(conn: &Conn, token_key: &[u8], now_ms: i64) -> AppResult<Option<(Session, User)>> {
    conn.query_opt(
        sql!(
            "SELECT {}, {CONTRACT_WALLET}, {} FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2",
            prefixed("s", COLUMNS),
            prefixed("u", users::USER_COLUMNS)
        ),
        params![token_key, now_ms],
        |row| Ok((from_row(row)?, users::user_from_row_at(row, COLUMN_COUNT)?)),
    )
}

/// The user's live sessions, newest first.
pub fn live_of_user(conn: &Conn, user_id: &UserId, now_ms: i64) -> AppResult<Vec<Session>> {
    let rows = conn.query_vec(
        sql!(
            "SELECT {}, {CONTRACT_WALLET} FROM sessions s
          WHERE s.user_id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2
          ORDER BY s.created_at DESC, s.id",
            prefixed("s", COLUMNS)
        ),
        params![user_id, now_ms],
        from_row,
    )?;
    Ok(rows)
}

/// Records use of a session, at most once per `every_ms`, to spare writes on every request.
pub fn touch(conn: &Conn, session_id: &SessionId, now_ms: i64, every_ms: i64) -> AppResult<()> {
    conn.execute(
        "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at <= ?2 - ?3",
        params![session_id, now_ms, every_ms],
    )?;
    Ok(())
}

/// Records that a live session of the user proved a signature at `now_ms`; true when there was
/// such a session.
pub fn mark_authenticated(
    conn: &Conn,
    user_id: &UserId,
    session_id: &SessionId,
    now_ms: i64,
) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE sessions SET authenticated_at = ?3
              WHERE id = ?2 AND user_id = ?1 AND revoked_at IS NULL AND expires_at > ?3",
        params![user_id, session_id, now_ms],
    )? > 0)
}

/// Revokes one of the user's live sessions; true when there was one.
pub fn revoke(
    conn: &Conn,
    user_id: &UserId,
    session_id: &SessionId,
    now_ms: i64,
) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE sessions SET revoked_at = ?3
              WHERE id = ?2 AND user_id = ?1 AND revoked_at IS NULL AND expires_at > ?3",
        params![user_id, session_id, now_ms],
    )? > 0)
}

/// Revokes the user's live sessions (those signed in with `address`, if given), except
/// `keep`; returns how many. (The CASTs let PostgreSQL type a NULL parameter.)
pub fn revoke_all(
    conn: &Conn,
    user_id: &UserId,
    address: Option<&Address>,
    keep: Option<&SessionId>,
    now_ms: i64,
) -> AppResult<usize> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?4
              WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?4
                AND (CAST(?2 AS TEXT) IS NULL OR address = ?2)
                AND (CAST(?3 AS TEXT) IS NULL OR id <> ?3)",
        params![user_id, address, keep, now_ms],
    )
}

pub fn delete_expired(conn: &Conn, now_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM sessions WHERE id IN
               (SELECT id FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
        params![now_ms, batch],
    )
}
