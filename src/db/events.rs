//! The security event log: sign-ins, refusals, wallet and session changes.

use rusqlite::params;

use super::Conn;

use crate::{
    domain::{
        event::{Event, EventKind},
        id::UserId,
    },
    error::AppResult,
};

pub fn insert(conn: &Conn, event: &Event) -> AppResult<()> {
    conn.execute(
        "INSERT INTO security_events (at, user_id, kind, address, ip, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            event.at,
            event.user_id,
            event.kind.as_str(),
            event.address,
            event.ip,
            event.detail
        ],
    )?;
    Ok(())
}

/// The user's most recent events, newest first.
pub fn recent_of_user(conn: &Conn, user_id: &UserId, limit: u32) -> AppResult<Vec<Event>> {
    let rows = conn.query_vec(
        "SELECT id, at, user_id, kind, address, ip, detail FROM security_events
          WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
        params![user_id, limit],
        |row| {
            Ok(Event {
                id: row.get(0)?,
                at: row.get(1)?,
                user_id: row.get(2)?,
                kind: kind_of(row.get(3)?)?,
                address: row.get(4)?,
                ip: row.get(5)?,
                detail: row.get(6)?,
            })
        },
    )?;
    Ok(rows)
}

/// The kind a stored name stands for; a name this version does not know fails the read.
fn kind_of(name: String) -> AppResult<EventKind> {
    EventKind::from_name(&name)
        .ok_or_else(|| crate::db::unreadable(3, format!("unknown event kind {name:?}")))
}

pub fn delete_older_than(conn: &Conn, cutoff_ms: i64, batch: u32) -> AppResult<usize> {
    conn.execute(
        "DELETE FROM security_events WHERE id IN
               (SELECT id FROM security_events WHERE at < ?1 LIMIT ?2)",
        params![cutoff_ms, batch],
    )
}
