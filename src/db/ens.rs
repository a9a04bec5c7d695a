//! The ENS cache: each wallet's primary name (or the lack of one) as last resolved, until it
//! expires. Read with the wallets (`users.rs` joins it); written by the background resolver.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{
    domain::{address::Address, ens::EnsName},
    error::AppResult,
};

/// Stores what resolving `address` found (`None`: no primary name), kept until `expires_at`.
pub fn store(
    conn: &Connection,
    address: &Address,
    name: Option<&EnsName>,
    now_ms: i64,
    expires_at: i64,
) -> AppResult<()> {
    conn.prepare_cached(
        "INSERT INTO ens_names (address, name, avatar, resolved_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (address) DO UPDATE SET name = excluded.name, avatar = excluded.avatar,
                resolved_at = excluded.resolved_at, expires_at = excluded.expires_at",
    )?
    .execute(params![
        address,
        name.map(|n| &n.name),
        name.and_then(|n| n.avatar.as_ref()),
        now_ms,
        expires_at
    ])?;
    Ok(())
}

/// After a failed resolution: keeps what is known (no name if nothing is) and tries again
/// after `retry_at`.
pub fn retry_later(
    conn: &Connection,
    address: &Address,
    now_ms: i64,
    retry_at: i64,
) -> AppResult<()> {
    conn.prepare_cached(
        "INSERT INTO ens_names (address, name, avatar, resolved_at, expires_at)
         VALUES (?1, NULL, NULL, ?2, ?3)
         ON CONFLICT (address) DO UPDATE SET expires_at = excluded.expires_at",
    )?
    .execute(params![address, now_ms, retry_at])?;
    Ok(())
}

/// Whether `address` has an entry that has not expired.
pub fn is_fresh(conn: &Connection, address: &Address, now_ms: i64) -> AppResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM ens_names WHERE address = ?1 AND expires_at > ?2")?
        .query_row(params![address, now_ms], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Up to `limit` linked wallets whose entry has expired, oldest first.
pub fn expired(conn: &Connection, now_ms: i64, limit: u32) -> AppResult<Vec<Address>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.address FROM ens_names e
          WHERE e.expires_at <= ?1 AND EXISTS (SELECT 1 FROM wallets w WHERE w.address = e.address)
          ORDER BY e.expires_at LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, limit], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes up to `batch` expired entries of addresses that are no longer linked wallets.
pub fn delete_unlinked(conn: &Connection, now_ms: i64, batch: u32) -> AppResult<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM ens_names WHERE address IN
               (SELECT e.address FROM ens_names e
                 WHERE e.expires_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM wallets w WHERE w.address = e.address)
                 LIMIT ?2)",
        )?
        .execute(params![now_ms, batch])?)
}
