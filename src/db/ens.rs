//! The ENS cache: each wallet's primary name (or the lack of one) as last resolved, until it
//! expires. Read with the wallets (`users.rs` joins it); written by the background resolver.

use rusqlite::params;

use super::Conn;

use crate::{
    domain::{address::Address, ens::EnsName},
    error::AppResult,
};

/// Stores what resolving `address` found (`None`: no primary name), kept until `expires_at`.
pub fn store(
    conn: &Conn,
    address: &Address,
    name: Option<&EnsName>,
    now_ms: i64,
    expires_at: i64,
) -> AppResult<()> {
    conn.execute(
        "INSERT INTO ens_names (address, name, avatar, resolved_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (address) DO UPDATE SET name = excluded.name, avatar = excluded.avatar,
                resolved_at = excluded.resolved_at, expires_at = excluded.expires_at",
        params![
            address,
            name.map(|n| &n.name),
            name.and_then(|n| n.avatar.as_ref()),
            now_ms,
            expires_at
        ],
    )?;
    Ok(())
}

/// After a failed resolution: keeps what is known (no name if nothing is) and tries again
/// after `retry_at`.
pub fn retry_later(conn: &Conn, address: &Address, now_ms: i64, retry_at: i64) -> AppResult<()> {
    conn.execute(
        "INSERT INTO ens_names (address, name, avatar, resolved_at, expires_at)
         VALUES (?1, NULL, NULL, ?2, ?3)
         ON CONFLICT (address) DO UPDATE SET expires_at = excluded.expires_at",
        params![address, now_ms, retry_at],
    )?;
    Ok(())
}

/// Whether `address` has an entry that has not expired.
pub fn is_fresh(conn: &Conn, address: &Address, now_ms: i64) -> AppResult<bool> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM ens_names WHERE address = ?1 AND expires_at > ?2",
            params![address, now_ms],
            |_| Ok(()),
        )?
        .is_some())
}

/// Up to `limit` linked wallets whose entry has expired, oldest first.
pub fn expired(conn: &Conn, now_ms: i64, limit: u32) -> AppResult<Vec<Address>> {
    let rows = conn.query_vec(
        "SELECT e.address FROM ens_names e
          WHERE e.expires_at <= ?1 AND EXISTS (SELECT 1 FROM wallets w WHERE w.address = e.address)
          ORDER BY e.expires_at LIMIT ?2",
        params![now_ms, limit],
        |row| row.get(0),
    )?;
    Ok(rows)
}

/// Deletes up to `batch` expired entries of addresses that are no longer linked wallets.
pub fn delete_unlinked(conn: &Conn, now_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM ens_names WHERE address IN
               (SELECT e.address FROM ens_names e
                 WHERE e.expires_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM wallets w WHERE w.address = e.address)
                 LIMIT ?2)",
        params![now_ms, batch],
    )
}
