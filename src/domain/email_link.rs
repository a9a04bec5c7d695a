//! A link mailed to an address (verify the address, or attach a wallet), single-use and found
//! by its token (`db/email_tokens.rs` maps the rows). Times are Unix milliseconds. Pure data.

use super::{address::Address, id::UserId};

/// What an emailed link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailLinkKind {
    /// Confirms the account's email address.
    VerifyEmail,
    /// Adds a wallet to the account and signs in with it.
    AttachWallet,
}

impl EmailLinkKind {
    /// The stored name (part of the database format: never rename one).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::AttachWallet => "link_wallet",
        }
    }

    /// The kind a stored name stands for; `None` for a name this version does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::VerifyEmail, Self::AttachWallet]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

#[derive(Debug, Clone)]
pub struct EmailLink {
    pub kind: EmailLinkKind,
    pub user_id: UserId,
    pub email: String,
    /// For wallet links: the wallet to attach.
    pub address: Option<Address>,
    pub chain_id: Option<u64>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back() {
        for kind in [EmailLinkKind::VerifyEmail, EmailLinkKind::AttachWallet] {
            assert_eq!(EmailLinkKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(EmailLinkKind::from_name("attach_wallet"), None);
    }
}
