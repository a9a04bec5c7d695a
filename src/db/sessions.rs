//! Sessions: one row per sign-in, found by the keyed MAC of its token.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::AppResult;

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub address: String,
    pub chain_id: u64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub fn insert(conn: &Connection, session: &SessionRecord, token_hash: &[u8]) -> AppResult<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (id, token_hash, user_id, address, chain_id, created_at,
                               expires_at, last_seen_at, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        session.id,
        token_hash,
        session.user_id,
        session.address,
        session.chain_id,
        session.created_at,
        session.expires_at,
        session.last_seen_at,
        session.ip,
        session.user_agent
    ])?;
    Ok(())
}

/// The live (not revoked, not expired) session whose token has this MAC.
pub fn find_live(
    conn: &Connection,
    token_hash: &[u8],
    now_ms: i64,
) -> AppResult<Option<SessionRecord>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, user_id, address, chain_id, created_at, expires_at, last_seen_at, ip, user_agent
             FROM sessions
             WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?2",
        )?
        .query_row(params![token_hash, now_ms], |row| {
            Ok(SessionRecord {
                id: row.get(0)?,
                user_id: row.get(1)?,
                address: row.get(2)?,
                chain_id: row.get(3)?,
                created_at: row.get(4)?,
                expires_at: row.get(5)?,
                last_seen_at: row.get(6)?,
                ip: row.get(7)?,
                user_agent: row.get(8)?,
            })
        })
        .optional()?)
}

/// Marks the session revoked; true when it was live.
pub fn revoke(conn: &Connection, session_id: &str, now_ms: i64) -> AppResult<bool> {
    Ok(conn
        .prepare_cached("UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")?
        .execute(params![session_id, now_ms])?
        > 0)
}

pub fn delete_expired(conn: &Connection, now_ms: i64, batch: u32) -> AppResult<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM sessions WHERE rowid IN
               (SELECT rowid FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
        )?
        .execute(params![now_ms, batch])?)
}
