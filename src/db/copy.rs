//! `siwe-server migrate-storage`: an installation's rows copied from its SQLite file (read in
//! one snapshot, so the server may go on running) into an empty PostgreSQL database, then
//! checked: the same number of rows in every table, and a sample of sessions alike.

use std::path::Path;

use anyhow::{bail, Context};
use rusqlite::{types::Value, OpenFlags, ToSql};

use super::{Db, SCHEMA_VERSION};

/// Every table, parents before the rows that refer to them.
const TABLES: &[&str] = &[
    "users",
    "wallets",
    "sessions",
    "email_tokens",
    "security_events",
    "spent_nonces",
    "mail_log",
    "oidc_clients",
    "oidc_consents",
    "oidc_codes",
    "oidc_grants",
    "oidc_refresh_tokens",
    "ens_names",
    "contract_sessions",
    "pairings",
];
/// Rows written per transaction.
const BATCH: usize = 500;
/// Sessions compared column by column after the copy.
const SAMPLE: i64 = 200;

/// What was copied: rows per table, and how many sampled sessions were compared.
pub struct Copied {
    pub tables: Vec<(&'static str, i64)>,
    pub sessions_compared: usize,
}

/// Copies every row of the SQLite database at `from` into `to` (PostgreSQL, migrated and
/// empty), then checks the copy.
pub async fn sqlite_to(from: &Path, to: &Db) -> anyhow::Result<Copied> {
    let source = rusqlite::Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", from.display()))?;
    source.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = source.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        bail!(
            "{} has schema version {version}, this binary {SCHEMA_VERSION}: start this version \
             of the server on it once (it migrates the file), then copy",
            from.display()
        );
    }
    let already: i64 = TABLES
        .iter()
        .map(|table| count_in(to, table))
        .sum::<anyhow::Result<i64>>()?;
    if already > 0 {
        bail!("the PostgreSQL database holds {already} rows already: copy into an empty one");
    }
    // One snapshot of the file for the whole copy and its check.
    source.execute_batch("BEGIN")?;
    let mut tables = Vec::new();
    for table in TABLES {
        let copied = copy_table(&source, to, table).await?;
        tables.push((*table, copied));
    }
    // Rows came with their ids: the next event id follows the largest copied.
    to.write(|conn| {
        conn.query_one(
            "SELECT setval(pg_get_serial_sequence('security_events', 'id'),
                           COALESCE(max(id), 0) + 1, false)
               FROM security_events",
            &[],
            |_| Ok(()),
        )
    })
    .await?;
    for (table, copied) in &tables {
        let there = count_in(to, table)?;
        if there != *copied {
            bail!("{table}: {copied} rows copied, {there} found in PostgreSQL");
        }
    }
    let sessions_compared = compare_sessions(&source, to)?;
    source.execute_batch("COMMIT")?;
    Ok(Copied {
        tables,
        sessions_compared,
    })
}

fn count_in(db: &Db, table: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT count(*) FROM {table}");
    Ok(db.read(|conn| conn.query_one(&sql, &[], |row| row.get(0)))?)
}

/// Copies `table`'s rows in batches; how many.
async fn copy_table(source: &rusqlite::Connection, to: &Db, table: &str) -> anyhow::Result<i64> {
    let columns: Vec<String> = source
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let list = columns.join(", ");
    let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({list}) VALUES ({})",
        placeholders.join(", ")
    );
    let mut statement = source.prepare(&format!("SELECT {list} FROM {table}"))?;
    let mut rows = statement.query([])?;
    let (mut batch, mut copied) = (Vec::with_capacity(BATCH), 0);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            let values: Vec<Value> = (0..columns.len())
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<_, _>>()?;
            batch.push(values);
        }
        if batch.len() == BATCH || (row.is_none() && !batch.is_empty()) {
            copied += batch.len() as i64;
            let (insert, written) = (insert.clone(), std::mem::take(&mut batch));
            to.write(move |conn| {
                for values in &written {
                    let params: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
                    conn.execute(&insert, &params)?;
                }
                Ok(())
            })
            .await
            .with_context(|| format!("copying {table}"))?;
        }
        if row.is_none() {
            return Ok(copied);
        }
    }
}

/// Compares a sample of sessions column by column; how many.
fn compare_sessions(source: &rusqlite::Connection, to: &Db) -> anyhow::Result<usize> {
    const COLUMNS: &str = "id, token_hash, user_id, address, chain_id, created_at, expires_at, \
                           revoked_at, authenticated_at";
    let sample: Vec<Vec<Value>> = source
        .prepare(&format!(
            "SELECT {COLUMNS} FROM sessions ORDER BY random() LIMIT {SAMPLE}"
        ))?
        .query_map([], |row| (0..9).map(|i| row.get::<_, Value>(i)).collect())?
        .collect::<Result<_, _>>()?;
    let select = format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1");
    for session in &sample {
        let found: Option<Vec<Value>> = to.read(|conn| {
            conn.query_opt(&select, &[&session[0]], |row| {
                (0..9).map(|i| row.get::<Value>(i)).collect()
            })
        })?;
        if found.as_ref() != Some(session) {
            bail!("session {:?} differs in PostgreSQL: {found:?}", session[0]);
        }
    }
    Ok(sample.len())
}
