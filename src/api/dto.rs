//! The JSON shapes of requests and responses, and their conversion from service records.

use poem_openapi::Object;
use time::OffsetDateTime;

use crate::{
    db::{sessions::SessionRecord, users::WalletRecord},
    service::{from_unix_ms, Account, NonceIssued},
};

/// A wallet linked to an account.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Wallet {
    /// EIP-55 checksummed address.
    pub address: String,
    /// The chain of the wallet's latest sign-in.
    pub chain_id: u64,
    pub linked_at: OffsetDateTime,
}

/// An account.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    /// Display name; the short form of the first wallet's address until changed.
    pub name: String,
    /// Contact email, if one was given.
    #[oai(nullable)]
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
    pub wallets: Vec<Wallet>,
}

/// A signed-in session.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    /// The wallet that signed in.
    pub address: String,
    pub chain_id: u64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A nonce and the values a message must carry for this server to accept it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct NonceBody {
    /// Single-use; put it in the message's `Nonce:` line.
    pub nonce: String,
    /// The nonce cannot be used after this time.
    pub expires_at: OffsetDateTime,
    /// The value for the message's first line (`<domain> wants you to sign in...`).
    pub domain: String,
    /// The value for `URI:`.
    pub uri: String,
    /// The value for `Version:`.
    pub version: String,
    /// Chains accepted in `Chain ID:`; empty means any chain.
    pub chain_ids: Vec<u64>,
    /// A suggested statement line, or null when none is configured.
    #[oai(nullable)]
    pub statement: Option<String>,
}

/// A signed EIP-4361 message.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct VerifyRequest {
    /// The exact message text that was signed (lines separated by `\n`, no trailing newline).
    pub message: String,
    /// The EIP-191 `personal_sign` signature: 65 bytes as hex, `0x` optional.
    pub signature: String,
}

/// The result of a sign-in.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignInBody {
    pub user: User,
    pub session: Session,
    /// Send as `X-CSRF-Token` on state-changing requests authenticated by the cookie.
    pub csrf_token: String,
    /// Whether this sign-in created the account.
    pub created: bool,
    /// The session token, for `Authorization: Bearer` from non-browser clients. Keep it secret.
    pub token: String,
}

/// The current session.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionBody {
    pub user: User,
    pub session: Session,
    pub csrf_token: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CsrfBody {
    pub csrf_token: String,
}

#[derive(Debug, Clone, Object)]
pub struct HealthBody {
    /// `ok` when the database answers.
    pub status: String,
}

impl From<&WalletRecord> for Wallet {
    fn from(w: &WalletRecord) -> Self {
        Self {
            address: w.address.clone(),
            chain_id: w.chain_id,
            linked_at: from_unix_ms(w.linked_at),
        }
    }
}

impl From<&Account> for User {
    fn from(a: &Account) -> Self {
        Self {
            id: a.user.id.clone(),
            name: a.user.name.clone(),
            email: a.user.email.clone(),
            created_at: from_unix_ms(a.user.created_at),
            wallets: a.wallets.iter().map(Wallet::from).collect(),
        }
    }
}

impl From<&SessionRecord> for Session {
    fn from(s: &SessionRecord) -> Self {
        Self {
            id: s.id.clone(),
            address: s.address.clone(),
            chain_id: s.chain_id,
            created_at: from_unix_ms(s.created_at),
            expires_at: from_unix_ms(s.expires_at),
        }
    }
}

impl From<NonceIssued> for NonceBody {
    fn from(n: NonceIssued) -> Self {
        Self {
            nonce: n.nonce,
            expires_at: from_unix_ms(n.expires_at),
            domain: n.domain,
            uri: n.uri,
            version: "1".into(),
            chain_ids: n.chain_ids,
            statement: n.statement,
        }
    }
}
