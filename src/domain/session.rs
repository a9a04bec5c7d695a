//! A session: one sign-in, found by its token (`db/sessions.rs` maps the rows). Times are
//! Unix milliseconds. Pure data: no I/O.

use super::{
    address::Address,
    id::{SessionId, UserId},
};

#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    /// The wallet that signed in.
    pub address: Address,
    pub chain_id: u64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the session last proved a signature (sign-in or re-authentication); `None` for
    /// sessions opened by an emailed link.
    pub authenticated_at: Option<i64>,
    /// Whether a wallet contract (EIP-1271/6492), not a key, signed it in (its signature is
    /// kept in `contract_sessions`, to be checked again).
    pub contract_wallet: bool,
}
