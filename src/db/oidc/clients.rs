//! CLI-managed OpenID Connect clients (`siwe-server clients`; config's are not stored).

use rusqlite::params;

use super::super::{Conn, Row};

use super::scopes_of;
use crate::{
    domain::{
        oidc::client::{Client, SubjectType},
        signing_alg::SigningAlg,
    },
    error::AppResult,
};

const CLIENT_COLUMNS: &str = "id, name, secret_mac, redirect_uris, post_logout_redirect_uris, \
                              scopes, trusted, subject, id_token_alg";

fn client_from_row(row: &Row) -> AppResult<Client> {
    Ok(Client {
        id: row.get(0)?,
        name: row.get(1)?,
        secret_mac: row.get(2)?,
        redirect_uris: json_list(row, 3)?,
        post_logout_redirect_uris: json_list(row, 4)?,
        scopes: scopes_of(row.get(5)?),
        trusted: row.get(6)?,
        subject: stored_name(row, 7, SubjectType::from_name)?,
        id_token_alg: stored_name(row, 8, SigningAlg::from_name)?,
    })
}

fn json_list(row: &Row, index: usize) -> AppResult<Vec<String>> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| crate::db::unreadable(index, e))
}

/// A stored name this version must know; an unknown one fails the read.
fn stored_name<T>(row: &Row, index: usize, parse: fn(&str) -> Option<T>) -> AppResult<T> {
    let name: String = row.get(index)?;
    parse(&name).ok_or_else(|| crate::db::unreadable(index, format!("unknown value {name:?}")))
}

fn json_text(list: &[String]) -> AppResult<String> {
    serde_json::to_string(list).map_err(|e| {
        anyhow::Error::new(e)
            .context("cannot encode a URI list")
            .into()
    })
}

/// Stores a new client; false when its id is taken.
pub fn insert_client(conn: &Conn, client: &Client, now_ms: i64) -> AppResult<bool> {
    Ok(conn.execute(
        sql!(
            "INSERT INTO oidc_clients ({CLIENT_COLUMNS}, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING"
        ),
        params![
            client.id,
            client.name,
            client.secret_mac,
            json_text(&client.redirect_uris)?,
            json_text(&client.post_logout_redirect_uris)?,
            client.scopes.to_string(),
            client.trusted,
            client.subject.as_str(),
            client.id_token_alg.as_str(),
            now_ms
        ],
    )? == 1)
}

pub fn find_client(conn: &Conn, id: &str) -> AppResult<Option<Client>> {
    conn.query_opt(
        sql!("SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE id = ?1"),
        params![id],
        client_from_row,
    )
}

/// Every stored client, by id.
pub fn list_clients(conn: &Conn) -> AppResult<Vec<Client>> {
    let rows = conn.query_vec(
        sql!("SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY id"),
        &[],
        client_from_row,
    )?;
    Ok(rows)
}

/// Removes a client, the consents given to it, and ends its grants; false when unknown.
pub fn delete_client(conn: &Conn, id: &str, now_ms: i64) -> AppResult<bool> {
    let deleted = conn.execute("DELETE FROM oidc_clients WHERE id = ?1", params![id])? == 1;
    if deleted {
        conn.execute(
            "DELETE FROM oidc_consents WHERE client_id = ?1",
            params![id],
        )?;
        conn.execute(
            "UPDATE oidc_grants SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
            params![id, now_ms],
        )?;
    }
    Ok(deleted)
}

/// Replaces a client's secret MAC; false when the client is unknown.
pub fn set_client_secret(conn: &Conn, id: &str, secret_mac: &[u8; 32]) -> AppResult<bool> {
    Ok(conn.execute(
        "UPDATE oidc_clients SET secret_mac = ?2 WHERE id = ?1",
        params![id, secret_mac],
    )? == 1)
}

/// The ids of the stored clients, read from the file without writing to it (for `siwe-server
/// check`); none when the database predates the table.
pub fn stored_client_ids(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let has_table: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'oidc_clients'",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare("SELECT id FROM oidc_clients ORDER BY id")?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}
