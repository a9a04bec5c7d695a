//! Storage: the pool, pragmas, migrations and every SQL statement of the server.

// The driver's errors become internal errors here, so the error enum need not name the driver;
// a full disk (or `database.max_size_mb`) is the client's to know: 503 `storage_unavailable`.
impl From<rusqlite::Error> for crate::error::AppError {
    fn from(err: rusqlite::Error) -> Self {
        storage_full(&err).unwrap_or_else(|| {
            crate::error::AppError::Internal(
                anyhow::Error::new(err).context("database query failed"),
            )
        })
    }
}

/// `storage_unavailable` when `err` says the database cannot grow (SQLITE_FULL: the disk is
/// full, or the file reached `database.max_size_mb`); logged, since only an operator can help.
fn storage_full(err: &rusqlite::Error) -> Option<crate::error::AppError> {
    if err.sqlite_error_code() != Some(rusqlite::ErrorCode::DiskFull) {
        return None;
    }
    tracing::error!(
        error = %err,
        "the database cannot grow (disk full or database.max_size_mb reached): writes are \
         refused until there is space; reads go on"
    );
    Some(storage_unavailable())
}

fn storage_unavailable() -> crate::error::AppError {
    crate::error::AppError::new(
        crate::error::ErrorCode::StorageUnavailable,
        "The server could not store this change (its storage is full or failing), so nothing \
         was changed; retry later.",
    )
}

impl From<r2d2::Error> for crate::error::AppError {
    fn from(err: r2d2::Error) -> Self {
        crate::error::AppError::Internal(
            anyhow::Error::new(err).context("no database connection available"),
        )
    }
}

/// A statement's text, formatted once on first use, not on every call (every request runs some).
macro_rules! sql {
    ($($format:tt)*) => {{
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!($($format)*));
        SQL.as_str()
    }};
}

mod access;
pub mod backup;
pub mod contract_sessions;
pub mod copy;
pub mod email_tokens;
pub mod ens;
pub mod events;
pub mod mail_log;
mod migrations;
pub mod nonces;
pub mod oidc;
pub mod pairings;
mod postgres;
pub mod rate_limits;
pub mod sessions;
pub mod signing_keys;
mod storage;
pub mod users;
mod writer;

pub use storage::{unreadable, Columns, Conn, Row, Storage, Turn};
pub use writer::{Answer, ForWaiter, WRITE_QUEUE};

use std::{path::Path, time::Duration};

use anyhow::Context;
use r2d2::{CustomizeConnection, Pool};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection};

use crate::{
    domain::{
        address::Address,
        id::{SessionId, UserId},
    },
    error::AppResult,
    files,
};

pub use migrations::SCHEMA_VERSION;

/// Rows deleted per statement by the cleanup task, so it never holds the write lock for long.
const CLEANUP_BATCH: u32 = 1000;
/// How long an expired pairing is kept (its desktop may still ask how it ended).
const PAIRING_KEPT_MS: i64 = 3_600_000;
/// Longest a read waits for a pooled connection: reads run on the async workers, which must
/// not stall behind an exhausted pool; past it the request gets 503 `overloaded`.
pub const READ_WAIT: Duration = Duration::from_millis(250);

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<Connection, rusqlite::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut Connection) -> Result<(), rusqlite::Error> {
        configure(conn)?;
        // Pool connections only read: all writes go through the one writer.
        conn.execute_batch("PRAGMA query_only = ON;")
    }
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    // journal_size_limit: once a checkpoint lets the WAL start over, its file is cut back to
    // 64 MB rather than keeping the largest size a burst of writes gave it. temp_store: each
    // write runs in a savepoint, whose undo copies of pages must not go to temporary files.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA journal_size_limit = 67108864;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = ON;",
    )
}

/// A handle to the database. SQLite (the default): a pool of read-only connections, used in
/// place for short indexed reads, and one writer thread that commits queued writes in
/// batches. PostgreSQL: see `postgres`. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    engine: Engine,
}

/// What a [`Db`] stores its rows in.
#[derive(Clone)]
enum Engine {
    Sqlite(Sqlite),
    Postgres(postgres::Postgres),
}

/// The SQLite file: read-only pooled connections and the one writer.
#[derive(Clone)]
struct Sqlite {
    readers: Pool<SqliteConnectionManager>,
    writer: writer::Writer,
    path: std::path::PathBuf,
}

impl Db {
    /// Opens (creating folder and file if needed) and migrates the database.
    pub fn open(path: &Path, pool_size: u32) -> anyhow::Result<Self> {
        Self::open_limited(path, pool_size, None)
    }

    /// [`Db::open`], with the file's growth stopped at about `max_bytes` (writes beyond it
    /// fail with `storage_unavailable`, as on a full disk).
    pub fn open_limited(
        path: &Path,
        pool_size: u32,
        max_bytes: Option<u64>,
    ) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            files::create_private_dir(parent)?;
        }
        backup::make_database_private(path)?;
        let open_error = || format!("cannot open the database {}", path.display());
        let mut conn = Connection::open(path).with_context(open_error)?;
        configure(&conn).with_context(open_error)?;
        migrations::apply(&mut conn)
            .with_context(|| format!("cannot migrate the database {}", path.display()))?;
        if let Some(max_bytes) = max_bytes {
            // Per connection; only the writer's writes. Never below the file's size (SQLite
            // keeps the larger of the two).
            let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            conn.pragma_update(None, "max_page_count", max_bytes / page_size.max(1))
                .with_context(open_error)?;
        }
        let checkpoints = Connection::open(path).with_context(open_error)?;
        configure(&checkpoints).with_context(open_error)?;
        let writer = writer::Writer::start(conn, checkpoints).with_context(open_error)?;
        let readers = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            // r2d2 would run `SELECT 1` (parsed anew) on every check-out: a connection to a
            // local file does not go stale, and a failing one fails the query it is used for.
            .test_on_check_out(false)
            .connection_customizer(Box::new(Pragmas))
            .build(SqliteConnectionManager::file(path))
            .with_context(open_error)?;
        Ok(Self {
            engine: Engine::Sqlite(Sqlite {
                readers,
                writer,
                path: path.to_path_buf(),
            }),
        })
    }

    /// Connects to PostgreSQL at `url` (a pool of up to `pool_size` connections) and brings
    /// its schema up to date. On the runtime.
    pub async fn open_postgres(url: &str, pool_size: u32) -> anyhow::Result<Self> {
        Ok(Self {
            engine: Engine::Postgres(postgres::Postgres::open(url, pool_size).await?),
        })
    }

    /// Opens the file read-only and checks its schema version and integrity.
    pub fn check(path: &Path) -> anyhow::Result<String> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            anyhow::bail!(
                "schema version {version} is newer than this binary knows ({SCHEMA_VERSION})"
            );
        }
        let integrity: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if integrity != "ok" {
            anyhow::bail!("integrity check failed: {integrity}");
        }
        let pending = SCHEMA_VERSION - version;
        Ok(if pending > 0 {
            format!(
                "schema version {version}, {pending} migration(s) to apply on start, integrity ok"
            )
        } else {
            format!("schema version {version}, integrity ok")
        })
    }

    /// Succeeds when the database can be read (a table's first page, not just the engine).
    pub fn ping(conn: &Conn) -> AppResult<()> {
        conn.exists("SELECT 1 FROM users LIMIT 1", &[])?;
        Ok(())
    }

    /// Live sessions and remembered spent nonces, for the metrics.
    pub fn counts(conn: &Conn, now_ms: i64) -> AppResult<(i64, i64)> {
        let sessions = conn.query_one(
            "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?1",
            params![now_ms],
            |r| r.get(0),
        )?;
        let nonces = nonces::count(conn)?;
        Ok((sessions, nonces))
    }

    /// Deletes up to a small batch each of expired nonces, sessions, email tokens, ENS names of
    /// unlinked wallets, OpenID Connect codes, refresh tokens and grants, pairings an hour past
    /// their expiry, and of events older than `events_before_ms`; returns how many rows went
    /// (none when another server is cleaning up meanwhile).
    pub fn delete_expired_batch(
        conn: &Conn,
        now_ms: i64,
        events_before_ms: i64,
    ) -> AppResult<usize> {
        if !conn.take_turn(Turn::Cleanup)? {
            return Ok(0);
        }
        Ok(nonces::delete_expired(conn, now_ms, CLEANUP_BATCH)?
            + sessions::delete_expired(conn, now_ms, CLEANUP_BATCH)?
            + email_tokens::delete_expired(conn, now_ms, CLEANUP_BATCH)?
            + ens::delete_unlinked(conn, now_ms, CLEANUP_BATCH)?
            + oidc::delete_expired(conn, now_ms, CLEANUP_BATCH)?
            + pairings::delete_expired_before(conn, now_ms - PAIRING_KEPT_MS, CLEANUP_BATCH)?
            + mail_log::delete_older_than(conn, now_ms - mail_log::WINDOW_MS, CLEANUP_BATCH)?
            + events::delete_older_than(conn, events_before_ms, CLEANUP_BATCH)?)
    }
}

/// Runs a statement without parameters or rows (BEGIN, SAVEPOINT, ...) from the statement
/// cache: these run around every request's work, and `execute_batch` would parse them anew.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// `columns` ("a, b") as `table.a, table.b`, for joins.
fn prefixed(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ids are stored as their text.
macro_rules! text_id_column {
    ($name:ident) => {
        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                String::column_result(value).map($name::new)
            }
        }
    };
}
text_id_column!(UserId);
text_id_column!(SessionId);

/// Addresses are stored as their EIP-55 text.
impl rusqlite::ToSql for Address {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for Address {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        // Written by us in EIP-55 form: not hashed again.
        Address::from_stored(value.as_str()?)
            .map_err(|e| rusqlite::types::FromSqlError::Other(e.into()))
    }
}
