//! One-time nonces: for sign-in, or for linking one address to one account.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::AppResult;

pub const SIGN_IN: &str = "sign_in";
pub const LINK: &str = "link";

/// What a nonce was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceRecord {
    pub expires_at: i64,
    pub purpose: String,
    /// For link nonces: the account and the address it may link.
    pub user_id: Option<String>,
    pub address: Option<String>,
}

pub fn insert(
    conn: &Connection,
    nonce: &str,
    issued_at: i64,
    record: &NonceRecord,
) -> AppResult<()> {
    conn.prepare_cached(
        "INSERT INTO nonces (nonce, issued_at, expires_at, purpose, user_id, address)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        nonce,
        issued_at,
        record.expires_at,
        record.purpose,
        record.user_id,
        record.address
    ])?;
    Ok(())
}

/// Removes the nonce in one statement and returns what it was for, so that of any number of
/// racing requests exactly one gets `Some`.
pub fn consume(conn: &Connection, nonce: &str) -> AppResult<Option<NonceRecord>> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM nonces WHERE nonce = ?1 RETURNING expires_at, purpose, user_id, address",
        )?
        .query_row(params![nonce], |row| {
            Ok(NonceRecord {
                expires_at: row.get(0)?,
                purpose: row.get(1)?,
                user_id: row.get(2)?,
                address: row.get(3)?,
            })
        })
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
