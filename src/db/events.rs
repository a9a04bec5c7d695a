//! The security event log: sign-ins, refusals, wallet and session changes.

use rusqlite::{params, Connection};

use crate::{
    domain::{
        event::{Event, EventKind},
        id::UserId,
    },
    error::AppResult,
};

pub fn insert(conn: &Connection, event: &Event) -> AppResult<()> {
    conn.prepare_cached(
        "INSERT INTO security_events (at, user_id, kind, address, ip, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.at,
        event.user_id,
        event.kind.as_str(),
        event.address,
        event.ip,
        event.detail
    ])?;
    Ok(())
}

/// The user's most recent events, newest first.
pub fn recent_of_user(conn: &Connection, user_id: &UserId, limit: u32) -> AppResult<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, user_id, kind, address, ip, detail FROM security_events
          WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![user_id, limit], |row| {
        Ok(Event {
            id: row.get(0)?,
            at: row.get(1)?,
            user_id: row.get(2)?,
            kind: kind_of(row.get(3)?)?,
            address: row.get(4)?,
            ip: row.get(5)?,
            detail: row.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The kind a stored name stands for; a name this version does not know fails the read.
fn kind_of(name: String) -> rusqlite::Result<EventKind> {
    EventKind::from_name(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown event kind {name:?}").into(),
        )
    })
}

pub fn delete_older_than(conn: &Connection, cutoff_ms: i64, batch: u32) -> AppResult<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM security_events WHERE id IN
               (SELECT id FROM security_events WHERE at < ?1 LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, batch])?)
}
