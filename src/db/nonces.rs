//! Spent nonces. Nonces are issued without storage (they carry their issue time and a MAC; see
//! `domain::token`); one is recorded here when used, until it expires, so it works only once.

use rusqlite::{params, Connection};

use crate::error::AppResult;

/// Records `nonce` as used; false when it was used before. Of any number of racing requests
/// with one nonce, exactly one gets true.
pub fn spend(conn: &Connection, nonce: &str, expires_at: i64) -> AppResult<bool> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO spent_nonces (nonce, expires_at) VALUES (?1, ?2)
             ON CONFLICT (nonce) DO NOTHING",
        )?
        .execute(params![nonce, expires_at])?
        == 1)
}

/// Spent nonces that have not expired yet (older ones could not be used anyway).
pub fn count(conn: &Connection) -> AppResult<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM spent_nonces")?
        .query_row([], |r| r.get(0))?)
}

pub fn delete_expired(conn: &Connection, now_ms: i64, batch: u32) -> AppResult<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM spent_nonces WHERE nonce IN
               (SELECT nonce FROM spent_nonces WHERE expires_at <= ?1 LIMIT ?2)",
        )?
        .execute(params![now_ms, batch])?)
}
