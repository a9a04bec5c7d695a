//! Spent nonces. Nonces are issued without storage (they carry their issue time and a MAC; see
//! `domain::token`); one is recorded here when used, until it expires, so it works only once.

use rusqlite::params;

use super::Conn;

use crate::error::AppResult;

/// Records `nonce` as used; false when it was used before. Of any number of racing requests
/// with one nonce, exactly one gets true.
pub fn spend(conn: &Conn, nonce: &str, expires_at: i64) -> AppResult<bool> {
    Ok(conn.execute(
        "INSERT INTO spent_nonces (nonce, expires_at) VALUES (?1, ?2)
             ON CONFLICT (nonce) DO NOTHING",
        params![nonce, expires_at],
    )? == 1)
}

/// Spent nonces that have not expired yet (older ones could not be used anyway).
pub fn count(conn: &Conn) -> AppResult<i64> {
    conn.query_one("SELECT count(*) FROM spent_nonces", &[], |r| r.get(0))
}

pub fn delete_expired(conn: &Conn, now_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM spent_nonces WHERE nonce IN
               (SELECT nonce FROM spent_nonces WHERE expires_at <= ?1 LIMIT ?2)",
        params![now_ms, batch],
    )
}
