//! One-time sign-in nonces.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::AppResult;

pub fn insert(conn: &Connection, nonce: &str, issued_at: i64, expires_at: i64) -> AppResult<()> {
    conn.prepare_cached("INSERT INTO nonces (nonce, issued_at, expires_at) VALUES (?1, ?2, ?3)")?
        .execute(params![nonce, issued_at, expires_at])?;
    Ok(())
}

/// Removes the nonce in one statement and returns its expiry, so that of any number of racing
/// requests exactly one gets `Some`.
pub fn consume(conn: &Connection, nonce: &str) -> AppResult<Option<i64>> {
    Ok(conn
        .prepare_cached("DELETE FROM nonces WHERE nonce = ?1 RETURNING expires_at")?
        .query_row(params![nonce], |row| row.get(0))
        .optional()?)
}

pub fn delete_expired(conn: &Connection, now_ms: i64, batch: u32) -> AppResult<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM nonces WHERE nonce IN
               (SELECT nonce FROM nonces WHERE expires_at <= ?1 LIMIT ?2)",
        )?
        .execute(params![now_ms, batch])?)
}
