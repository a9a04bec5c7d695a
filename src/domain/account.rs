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

#[cfg(test)]
mod tests {
    use super::*;

    fn wallet(byte: u8, is_primary: bool, ens: Option<&str>) -> Wallet {
        Wallet {
            address: Address::from_bytes([byte; 20]),
            user_id: UserId::new("u".into()),
            chain_id: 1,
            linked_at: 0,
            last_sign_in_at: None,
            is_primary,
            ens: ens.map(|name| EnsName {
                name: name.into(),
                avatar: None,
            }),
        }
    }

    fn user(name: &str) -> User {
        User {
            id: UserId::new("u".into()),
            name: name.into(),
            email: None,
            email_verified: false,
            created_at: 0,
        }
    }

    #[test]
    fn a_chosen_name_wins_then_the_primary_wallets_ens_name() {
        let wallets = [
            wallet(1, false, Some("one.eth")),
            wallet(2, true, Some("two.eth")),
        ];
        // The name a sign-in gave (any wallet's short address) is not chosen.
        let default = Address::from_bytes([1; 20]).short();
        assert_eq!(
            display_name(&user(&default), &wallets).as_deref(),
            Some("two.eth")
        );
        assert_eq!(display_name(&user("Ann"), &wallets).as_deref(), Some("Ann"));
        let unnamed = [wallet(1, true, None), wallet(2, false, Some("two.eth"))];
        assert_eq!(display_name(&user(&default), &unnamed), None);
    }
}
