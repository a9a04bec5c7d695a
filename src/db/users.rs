//! Users and the wallets linked to them.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::AppResult;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct WalletRecord {
    pub address: String,
    pub user_id: String,
    pub chain_id: u64,
    pub linked_at: i64,
    pub last_sign_in_at: Option<i64>,
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        email_verified: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn wallet_from_row(row: &Row<'_>) -> rusqlite::Result<WalletRecord> {
    Ok(WalletRecord {
        address: row.get(0)?,
        user_id: row.get(1)?,
        chain_id: row.get(2)?,
        linked_at: row.get(3)?,
        last_sign_in_at: row.get(4)?,
    })
}

pub fn find_user(conn: &Connection, user_id: &str) -> AppResult<Option<UserRecord>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, email, email_verified, created_at FROM users WHERE id = ?1",
        )?
        .query_row(params![user_id], user_from_row)
        .optional()?)
}

pub fn insert_user(conn: &Connection, user: &UserRecord) -> AppResult<()> {
    conn.prepare_cached(
        "INSERT INTO users (id, name, email, email_verified, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        user.id,
        user.name,
        user.email,
        user.email_verified,
        user.created_at
    ])?;
    Ok(())
}

pub fn find_wallet(conn: &Connection, address: &str) -> AppResult<Option<WalletRecord>> {
    Ok(conn
        .prepare_cached(
            "SELECT address, user_id, chain_id, linked_at, last_sign_in_at
             FROM wallets WHERE address = ?1",
        )?
        .query_row(params![address], wallet_from_row)
        .optional()?)
}

/// The user's wallets, oldest link first.
pub fn wallets_of(conn: &Connection, user_id: &str) -> AppResult<Vec<WalletRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT address, user_id, chain_id, linked_at, last_sign_in_at
         FROM wallets WHERE user_id = ?1 ORDER BY linked_at, address",
    )?;
    let rows = stmt.query_map(params![user_id], wallet_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert_wallet(conn: &Connection, wallet: &WalletRecord) -> AppResult<()> {
    conn.prepare_cached(
        "INSERT INTO wallets (address, user_id, chain_id, linked_at, last_sign_in_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        wallet.address,
        wallet.user_id,
        wallet.chain_id,
        wallet.linked_at,
        wallet.last_sign_in_at
    ])?;
    Ok(())
}

pub fn record_sign_in(conn: &Connection, address: &str, chain_id: u64, at: i64) -> AppResult<()> {
    conn.prepare_cached(
        "UPDATE wallets SET last_sign_in_at = ?2, chain_id = ?3 WHERE address = ?1",
    )?
    .execute(params![address, at, chain_id])?;
    Ok(())
}
