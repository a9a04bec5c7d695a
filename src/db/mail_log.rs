//! Mail sent per recipient, for the throttle on mail to one address.

use rusqlite::params;

use super::Conn;

use crate::error::AppResult;

/// How long a sent mail counts against its recipient.
pub const WINDOW_MS: i64 = 60 * 60 * 1000;

/// Mail sent to `recipient` (any case) at or after `since_ms`.
pub fn count_since(conn: &Conn, recipient: &str, since_ms: i64) -> AppResult<u32> {
    conn.query_one(
        "SELECT count(*) FROM mail_log WHERE recipient = lower(?1) AND sent_at >= ?2",
        params![recipient, since_ms],
        |row| row.get(0),
    )
}

pub fn insert(conn: &Conn, recipient: &str, at_ms: i64) -> AppResult<()> {
    conn.execute(
        "INSERT INTO mail_log (recipient, sent_at) VALUES (lower(?1), ?2)",
        params![recipient, at_ms],
    )?;
    Ok(())
}

pub fn delete_older_than(conn: &Conn, before_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM mail_log WHERE (recipient, sent_at) IN
               (SELECT recipient, sent_at FROM mail_log WHERE sent_at < ?1 LIMIT ?2)",
        params![before_ms, batch],
    )
}
