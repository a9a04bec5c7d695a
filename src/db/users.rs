//! Users and the wallets linked to them.

use rusqlite::params;

use super::{Conn, Row};

use crate::{
    domain::{
        account::{User, Wallet},
        address::Address,
        ens::EnsName,
        id::UserId,
    },
    error::AppResult,
};

pub(super) const USER_COLUMNS: &str = "id, name, email, email_verified, created_at";
const WALLET_COLUMNS: &str = "address, user_id, chain_id, linked_at, last_sign_in_at, is_primary";
/// Wallets with their cached ENS name (`wallet_from_row`'s columns).
const WALLETS_WITH_NAMES: &str =
    "SELECT w.address, w.user_id, w.chain_id, w.linked_at, w.last_sign_in_at, w.is_primary,
            e.name, e.avatar
       FROM wallets w LEFT JOIN ens_names e ON e.address = w.address";

fn user_from_row(row: &Row) -> AppResult<User> {
    user_from_row_at(row, 0)
}

/// A user from `USER_COLUMNS` starting at column `first` (for joins).
pub(super) fn user_from_row_at(row: &Row, first: usize) -> AppResult<User> {
    Ok(User {
        id: row.get(first)?,
        name: row.get(first + 1)?,
        email: row.get(first + 2)?,
        email_verified: row.get(first + 3)?,
        created_at: row.get(first + 4)?,
    })
}

fn wallet_from_row(row: &Row) -> AppResult<Wallet> {
    let ens_name: Option<String> = row.get(6)?;
    let avatar: Option<String> = row.get(7)?;
    Ok(Wallet {
        address: row.get(0)?,
        user_id: row.get(1)?,
        chain_id: row.get(2)?,
        linked_at: row.get(3)?,
        last_sign_in_at: row.get(4)?,
        is_primary: row.get(5)?,
        ens: ens_name.map(|name| EnsName { name, avatar }),
    })
}

/// Holds the account's row until the step ends, so that steps that read the account's
/// wallets and then change them run one at a time (see [`super::Storage::lock_rows`]).
pub fn lock_account(conn: &Conn, user_id: &UserId) -> AppResult<()> {
    conn.lock_rows("SELECT id FROM users WHERE id = ?1", params![user_id])
}

pub fn find_user(conn: &Conn, user_id: &UserId) -> AppResult<Option<User>> {
    conn.query_opt(
        sql!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        params![user_id],
        user_from_row,
    )
}

/// The account that has verified this email, whatever its case (at most one has).
pub fn find_verified_owner(conn: &Conn, email: &str) -> AppResult<Option<User>> {
    conn.query_opt(
        sql!(
            "SELECT {USER_COLUMNS} FROM users
              WHERE lower(email) = lower(?1) AND email IS NOT NULL AND email_verified = 1"
        ),
        params![email],
        user_from_row,
    )
}

pub fn insert_user(conn: &Conn, user: &User) -> AppResult<()> {
    conn.execute(
        sql!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![
            user.id,
            user.name,
            user.email,
            user.email_verified,
            user.created_at
        ],
    )?;
    Ok(())
}

pub fn set_name(conn: &Conn, user_id: &UserId, name: &str) -> AppResult<()> {
    conn.execute(
        "UPDATE users SET name = ?2 WHERE id = ?1",
        params![user_id, name],
    )?;
    Ok(())
}

/// Sets (or clears) the email; a changed email is unverified.
pub fn set_email(conn: &Conn, user_id: &UserId, email: Option<&str>) -> AppResult<()> {
    conn.execute(
        "UPDATE users SET email = ?2,
                email_verified = CASE WHEN lower(email) IS NOT DISTINCT FROM lower(?2) THEN email_verified ELSE 0 END
          WHERE id = ?1",
        params![user_id, email],
    )?;
    Ok(())
}

/// Marks the email verified if the account still has this email; true when it did.
pub fn mark_email_verified(conn: &Conn, user_id: &UserId, email: &str) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE users SET email_verified = 1 WHERE id = ?1 AND lower(email) = lower(?2)",
        params![user_id, email],
    )? > 0)
}

pub fn find_wallet(conn: &Conn, address: &Address) -> AppResult<Option<Wallet>> {
    conn.query_opt(
        sql!("{WALLETS_WITH_NAMES} WHERE w.address = ?1"),
        params![address],
        wallet_from_row,
    )
}

/// The user's wallets, primary first, then by link time.
pub fn wallets_of(conn: &Conn, user_id: &UserId) -> AppResult<Vec<Wallet>> {
    let rows = conn.query_vec(
        sql!(
            "{WALLETS_WITH_NAMES} WHERE w.user_id = ?1
          ORDER BY w.is_primary DESC, w.linked_at, w.address"
        ),
        params![user_id],
        wallet_from_row,
    )?;
    Ok(rows)
}

/// Adds a wallet; false (nothing stored) when the address is linked already. One statement,
/// so of racing links of one address exactly one succeeds.
pub fn insert_wallet(conn: &Conn, wallet: &Wallet) -> AppResult<bool> {
    Ok(conn.execute(
        sql!(
            "INSERT INTO wallets ({WALLET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (address) DO NOTHING"
        ),
        params![
            wallet.address,
            wallet.user_id,
            wallet.chain_id,
            wallet.linked_at,
            wallet.last_sign_in_at,
            wallet.is_primary
        ],
    )? == 1)
}

pub fn delete_wallet(conn: &Conn, user_id: &UserId, address: &Address) -> AppResult<bool> {
    Ok(conn.execute(
        "DELETE FROM wallets WHERE user_id = ?1 AND address = ?2",
        params![user_id, address],
    )? > 0)
}

/// Makes `address` the user's only primary wallet; false when it is not the user's.
pub fn set_primary(conn: &Conn, user_id: &UserId, address: &Address) -> AppResult<bool> {
    let owned = conn.exists(
        "SELECT 1 FROM wallets WHERE user_id = ?1 AND address = ?2",
        params![user_id, address],
    )?;
    if owned {
        conn.execute(
            "UPDATE wallets SET is_primary = 0 WHERE user_id = ?1 AND is_primary = 1",
            params![user_id],
        )?;
        conn.execute(
            "UPDATE wallets SET is_primary = 1 WHERE user_id = ?1 AND address = ?2",
            params![user_id, address],
        )?;
    }
    Ok(owned)
}

pub fn record_sign_in(conn: &Conn, address: &Address, chain_id: u64, at: i64) -> AppResult<()> {
    conn.execute(
        "UPDATE wallets SET last_sign_in_at = ?2, chain_id = ?3 WHERE address = ?1",
        params![address, at, chain_id],
    )?;
    Ok(())
}
