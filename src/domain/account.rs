//! Accounts: a user and the wallets linked to it, as the service works with them (`db/users.rs`
//! maps the rows). Times are Unix milliseconds. Pure data: no I/O.

use super::{address::Address, id::UserId};

/// An account's own fields.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: i64,
}

/// A wallet linked to an account; an address is linked to one account at most.
#[derive(Debug, Clone)]
pub struct Wallet {
    pub address: Address,
    pub user_id: UserId,
    pub chain_id: u64,
    pub linked_at: i64,
    pub last_sign_in_at: Option<i64>,
    pub is_primary: bool,
}
