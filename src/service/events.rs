//! The account's security log: the kinds of events, recording one (inside the write that
//! caused it) and reading an account's recent events.

use rusqlite::Connection;

use super::{Authenticated, ClientInfo, Service};
use crate::{
    db::{
        events::{self, EventRecord},
        users,
    },
    error::AppResult,
};

/// One entry of an account's security log.
pub type Event = EventRecord;

/// Kinds of security events, as stored and shown.
pub mod event_kind {
    pub const SIGN_IN: &str = "sign_in";
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    pub const SIGN_OUT: &str = "sign_out";
    pub const WALLET_LINKED: &str = "wallet_linked";
    pub const WALLET_LINK_FAILED: &str = "wallet_link_failed";
    pub const WALLET_UNLINKED: &str = "wallet_unlinked";
    pub const PRIMARY_WALLET_CHANGED: &str = "primary_wallet_changed";
    pub const SESSION_ENDED: &str = "session_ended";
    pub const SESSIONS_ENDED: &str = "sessions_ended";
    pub const EMAIL_CHANGED: &str = "email_changed";
    pub const EMAIL_VERIFIED: &str = "email_verified";
    pub const EMAIL_LINK_SENT: &str = "email_link_sent";
    pub const REAUTHENTICATED: &str = "reauthenticated";
    pub const REAUTHENTICATION_FAILED: &str = "reauthentication_failed";
}

/// Records a security event that happened `at` (Unix ms); the user is the address's owner when none is given.
pub(super) fn record_event(
    conn: &Connection,
    at: i64,
    kind: &str,
    user_id: Option<&str>,
    address: Option<&str>,
    client: &ClientInfo,
    detail: Option<&str>,
) -> AppResult<()> {
    let owner = match (user_id, address) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(address)) => users::find_wallet(conn, address)?.map(|w| w.user_id),
        (None, None) => None,
    };
    events::insert(
        conn,
        &EventRecord {
            id: 0,
            at,
            user_id: owner,
            kind: kind.to_string(),
            address: address.map(str::to_string),
            ip: client.ip.clone(),
            detail: detail.map(str::to_string),
        },
    )
}

impl Service {
    /// The account's most recent security events, newest first (at most 200).
    pub async fn events(&self, current: &Authenticated, limit: u32) -> AppResult<Vec<Event>> {
        let user_id = current.account.user.id.clone();
        self.db
            .read(|conn| events::recent_of_user(conn, &user_id, limit.clamp(1, 200)))
    }
}
