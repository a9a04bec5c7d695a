//! The account's security log: recording an event (inside the write that caused it) and
//! reading an account's recent events. The kinds are `domain::event::EventKind`.

use crate::db::Conn;

use super::{Authenticated, ClientInfo, Service};
use crate::domain::id::UserId;
use crate::{
    db::{events, users},
    domain::{
        address::Address,
        event::{Event, EventKind},
    },
    error::AppResult,
};

/// Records a security event that happened `at` (Unix ms); the user is the address's owner
/// when none is given.
pub fn record_event(
    conn: &Conn,
    at: i64,
    kind: EventKind,
    user_id: Option<&UserId>,
    address: Option<&Address>,
    client: &ClientInfo,
    detail: Option<&str>,
) -> AppResult<()> {
    let owner = match (user_id, address) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(address)) => users::find_wallet(conn, address)?.map(|w| w.user_id),
        (None, None) => None,
    };
    events::insert(
        conn,
        &Event {
            id: 0,
            at,
            user_id: owner,
            kind,
            address: address.copied(),
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
