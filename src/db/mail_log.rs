//! Mail sent per recipient, for the throttle on mail to one address.

use rusqlite::{params, Connection};

use crate::error::AppResult;

/// How long a sent mail counts against its recipient.
pub const WINDOW_MS: i64 = 60 * 60 * 1000;

/// Mail sent to `recipient` (any case) at or after `since_ms`.
pub fn count_since(conn: &Connection, recipient: &str, since_ms: i64) -> AppResult<u32> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM mail_log WHERE recipient = lower(?1) AND sent_at >= ?2",
        )?
        .query_row(params![recipient, since_ms], |row| row.get(0))?)
}

pub fn insert(conn: &Connection, recipient: &str, at_ms: i64) -> AppResult<()> {
    conn.prepare_cached("INSERT INTO mail_log (recipient, sent_at) VALUES (lower(?1), ?2)")?
        .execute(params![recipient, at_ms])?;
    Ok(())
}

pub fn delete_older_than(conn: &Connection, before_ms: i64, batch: u32) -> AppResult<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM mail_log WHERE rowid IN
               (SELECT rowid FROM mail_log WHERE sent_at < ?1 LIMIT ?2)",
        )?
        .execute(params![before_ms, batch])?)
}
