//! Single-use tokens sent in email links, stored by their keys (time prefix and keyed MAC).

use rusqlite::params;

use super::{Conn, Row};

use crate::{
    domain::email_link::{EmailLink, EmailLinkKind},
    error::AppResult,
};

pub fn insert(conn: &Conn, token_key: &[u8], token: &EmailLink) -> AppResult<()> {
    conn.execute("INSERT INTO email_tokens (token_hash, purpose, user_id, email, address, chain_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", params![
        token_key,
        token.kind.as_str(),
        token.user_id,
        token.email,
        token.address,
        token.chain_id,
        token.created_at,
        token.expires_at
    ])?;
    Ok(())
}

/// The token, left in place: what a link's page shows before anything is done.
pub fn find(conn: &Conn, token_key: &[u8]) -> AppResult<Option<EmailLink>> {
    conn.query_opt(
        "SELECT purpose, user_id, email, address, chain_id, created_at, expires_at
               FROM email_tokens WHERE token_hash = ?1",
        params![token_key],
        record_from_row,
    )
}

fn record_from_row(row: &Row) -> AppResult<EmailLink> {
    Ok(EmailLink {
        kind: kind_of(row.get(0)?)?,
        user_id: row.get(1)?,
        email: row.get(2)?,
        address: row.get(3)?,
        chain_id: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
    })
}

/// The kind a stored purpose stands for; a purpose this version does not know fails the read.
fn kind_of(purpose: String) -> AppResult<EmailLinkKind> {
    EmailLinkKind::from_name(&purpose)
        .ok_or_else(|| crate::db::unreadable(0, format!("unknown email link purpose {purpose:?}")))
}

/// Removes and returns the token in one statement: a link works once.
pub fn consume(conn: &Conn, token_key: &[u8]) -> AppResult<Option<EmailLink>> {
    conn.query_opt(
        "DELETE FROM email_tokens WHERE token_hash = ?1
             RETURNING purpose, user_id, email, address, chain_id, created_at, expires_at",
        params![token_key],
        record_from_row,
    )
}

pub fn delete_expired(conn: &Conn, now_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM email_tokens WHERE token_hash IN
               (SELECT token_hash FROM email_tokens WHERE expires_at <= ?1 LIMIT ?2)",
        params![now_ms, batch],
    )
}
