//! A link mailed to an address (verify the address, or attach a wallet), single-use and found
//! by its token (`db/email_tokens.rs` maps the rows). Times are Unix milliseconds. Pure data.

use super::{address::Address, id::UserId};

#[derive(Debug, Clone)]
pub struct EmailLink {
    pub purpose: String,
    pub user_id: UserId,
    pub email: String,
    /// For wallet links: the wallet to attach.
    pub address: Option<Address>,
    pub chain_id: Option<u64>,
    pub created_at: i64,
    pub expires_at: i64,
}
