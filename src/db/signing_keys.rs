//! Token signing keys, when they are kept in the database (PostgreSQL: every instance signs
//! with the same keys). One row: the key set's JSON and a version raised by each change.

use rusqlite::params;

use super::Conn;
use crate::error::AppResult;

/// The stored key set and its version, if any.
pub fn find(conn: &Conn) -> AppResult<Option<(String, i64)>> {
    conn.query_opt(
        "SELECT keys, version FROM signing_keys WHERE id = 1",
        &[],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
}

/// The version of the stored key set, if any (what instances poll).
pub fn version(conn: &Conn) -> AppResult<Option<i64>> {
    conn.query_opt(
        "SELECT version FROM signing_keys WHERE id = 1",
        &[],
        |row| row.get(0),
    )
}

/// Stores the first key set; false when another instance stored one first.
pub fn insert_first(conn: &Conn, keys: &str) -> AppResult<bool> {
    Ok(conn.execute(
        "INSERT INTO signing_keys (id, keys, version) VALUES (1, ?1, 1)
         ON CONFLICT (id) DO NOTHING",
        params![keys],
    )? == 1)
}

/// Replaces the key set read at `version`; false when it changed since (nothing written).
pub fn replace(conn: &Conn, keys: &str, version: i64) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE signing_keys SET keys = ?1, version = version + 1 WHERE id = 1 AND version = ?2",
        params![keys, version],
    )? == 1)
}
