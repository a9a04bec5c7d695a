//! Accounts: a user and the wallets linked to it, as the service works with them (`db/users.rs`
//! maps the rows). Times are Unix milliseconds. Pure data: no I/O.

use super::{address::Address, ens::EnsName, id::UserId};

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
    /// Its ENS primary name as last resolved (`db/ens.rs`'s cache), if it has one. Display only.
    pub ens: Option<EnsName>,
}

/// The name to show for an account: the one its owner chose, else the primary wallet's ENS
/// name; none when neither (the caller shows an address). The name a sign-in gives a new
/// account, the short form of a wallet's address, counts as not chosen.
pub fn display_name(user: &User, wallets: &[Wallet]) -> Option<String> {
    let name = user.name.trim();
    let chosen = !name.is_empty() && !wallets.iter().any(|w| w.address.short() == name);
    if chosen {
        return Some(name.to_string());
    }
    let primary = wallets.iter().find(|w| w.is_primary)?;
    primary.ens.as_ref().map(|ens| ens.name.clone())
}
