//! PostgreSQL, for several identical instances on one database (`database.url`): a pool of
//! tokio-postgres connections (deadpool), each step one transaction on one connection.
//!
//! The service's steps are synchronous closures over [`Conn`], shared with SQLite, whose
//! single writer runs them. Here they run where blocking is allowed (a blocking thread, or the
//! async worker handed over by `block_in_place`), and each statement waits for its answer on
//! the runtime's I/O.
//!
//! What SQLite's one writer gives by running one write at a time, each rule gets here from
//! the statement that keeps it: a single-use value is spent by one conditional statement
//! (of racing ones exactly one changes a row), a taken address by `ON CONFLICT DO NOTHING`,
//! and a step that reads an account's rows and then changes them first locks the account
//! ([`Storage::lock_rows`]). Writes run READ COMMITTED, reads in one REPEATABLE READ
//! snapshot. SERIALIZABLE was measured and dropped: on tables of a few pages its predicate
//! locks made unrelated sign-ins conflict, most of them, even when run again. A write that
//! deadlocks runs again (write steps are `Fn`); only one that keeps failing so reaches the
//! request, as 503 `overloaded` (retry).

use std::{cell::Cell, error::Error as _, time::Duration};

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use rusqlite::{params, types::ValueRef, ToSql};
use tokio::runtime::Handle;
use tokio_postgres::{error::SqlState, types::Type, NoTls};

use self::values::{as_params, numbered_parameters, refs, values, Param, PgRow};
use super::{Conn, Storage, READ_WAIT};
use crate::error::{AppError, AppResult};

/// Migration N (1-based) is `SCHEMA[N - 1]`; never edit one that has shipped, add the next.
mod values;

const SCHEMA: &[&str] = &[
    include_str!("migrations/postgres/0001_schema.sql"),
    include_str!("migrations/postgres/0002_signing_keys.sql"),
    include_str!("migrations/postgres/0003_rate_limit_hits.sql"),
];
/// The advisory lock instances take to migrate one at a time.
const MIGRATION_LOCK: i64 = 0x5157_4553_4d49_4752;
/// The advisory locks of [`super::Turn`]s: this plus the turn's number.
const TURN_LOCKS: i64 = 0x5157_4553_5455_0000;
/// How many times a write that conflicted with concurrent ones runs before the request is
/// told to retry.
const WRITE_TRIES: u32 = 8;

/// How a step's transaction begins.
#[derive(Clone, Copy)]
pub(super) enum Step {
    Read,
    Write,
}

impl Step {
    fn begin(self) -> &'static str {
        match self {
            Step::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            // Said, not left to the server's default_transaction_isolation.
            Step::Write => "BEGIN ISOLATION LEVEL READ COMMITTED",
        }
    }
}

#[derive(Clone)]
pub(super) struct Postgres {
    pool: Pool,
    runtime: Handle,
}

impl Postgres {
    /// Connects (within `connect_timeout`) and brings the schema up to date; called on the
    /// runtime.
    pub(super) async fn open(url: &str, pool_size: u32) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .context("database.url is not a PostgreSQL URL")?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size as usize)
            .wait_timeout(Some(READ_WAIT))
            .create_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("cannot build the PostgreSQL pool")?;
        let client = pool
            .get()
            .await
            .context("cannot connect to PostgreSQL (database.url)")?;
        migrate(&client).await?;
        Ok(Self {
            pool,
            runtime: Handle::current(),
        })
    }

    /// Runs `work` in one transaction on the calling thread, which may block: an async worker
    /// hands its other tasks over first (`block_in_place`).
    pub(super) fn run_here<T>(
        &self,
        step: Step,
        work: impl FnMut(&Conn) -> AppResult<T>,
    ) -> AppResult<T> {
        let run = || {
            let client = self.runtime.block_on(self.pool.get()).map_err(pool_error)?;
            self.transaction(client, step, work)
        };
        match Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(run),
            Err(_) => run(),
        }
    }

    /// Runs `work` in one transaction on a blocking thread.
    pub(super) async fn run<T, F>(&self, step: Step, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Conn) -> AppResult<T> + Send + 'static,
    {
        let client = self.pool.get().await.map_err(pool_error)?;
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.transaction(client, step, work))
            .await
            .map_err(|e| {
                AppError::Internal(anyhow::Error::new(e).context("database task failed"))
            })?
    }

    /// [`Postgres::run`] from outside the runtime (the CPU pool's threads): `finish` gets the
    /// result.
    pub(super) fn spawn<T, F>(
        &self,
        step: Step,
        work: F,
        finish: impl FnOnce(AppResult<T>) + Send + 'static,
    ) where
        T: Send + 'static,
        F: FnMut(&Conn) -> AppResult<T> + Send + 'static,
    {
        let engine = self.clone();
        self.runtime
            .spawn(async move { finish(engine.run(step, work).await) });
    }

    /// Runs `work` in one transaction. A write that conflicted with a concurrent one (a
    /// deadlock; nothing stored) runs again, in a new transaction, up to [`WRITE_TRIES`]
    /// times; then the request is told to retry (503 `overloaded`).
    fn transaction<T>(
        &self,
        client: Object,
        step: Step,
        mut work: impl FnMut(&Conn) -> AppResult<T>,
    ) -> AppResult<T> {
        let mut tries = 0;
        loop {
            tries += 1;
            let conn = PgConn {
                client: &client,
                runtime: &self.runtime,
                changes: Cell::new(0),
                conflicted: Cell::new(false),
            };
            conn.batch(step.begin())?;
            let result = work(&conn).and_then(|value| conn.batch("COMMIT").map(|()| value));
            let Err(err) = result else {
                return result;
            };
            if conn.batch("ROLLBACK").is_err() {
                // The connection is in an unknown state: it leaves the pool.
                drop(Object::take(client));
                return Err(err);
            }
            if !conn.conflicted.get() || matches!(step, Step::Read) || tries >= WRITE_TRIES {
                return Err(err);
            }
            // Apart, so that the writes that conflicted do not meet again at once.
            let pause = rand::random_range(0..200 * tries as u64);
            std::thread::sleep(Duration::from_micros(pause));
        }
    }
}

/// Runs a step that is not to run again (a read) where a step may be retried.
pub(super) fn once<T>(
    work: impl FnOnce(&Conn) -> AppResult<T>,
) -> impl FnMut(&Conn) -> AppResult<T> {
    let mut work = Some(work);
    move |conn| match work.take() {
        Some(work) => work(conn),
        None => Err(AppError::Internal(anyhow::anyhow!("a read step ran twice"))),
    }
}

/// One transaction's connection.
struct PgConn<'a> {
    client: &'a Object,
    runtime: &'a Handle,
    changes: Cell<u64>,
    /// Set when PostgreSQL refused a statement for a conflict with a concurrent transaction.
    conflicted: Cell<bool>,
}

impl PgConn<'_> {
    /// [`storage_error`], noting a conflict with a concurrent transaction.
    fn failed(&self, err: tokio_postgres::Error) -> AppError {
        if is_conflict(&err) {
            self.conflicted.set(true);
        }
        storage_error(err)
    }

    fn batch(&self, sql: &str) -> AppResult<()> {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(|err| self.failed(err))
    }

    /// `sql` prepared (once per connection) for parameters of the types `params` have: a
    /// parameter PostgreSQL could not type by itself (`?2 - ?3`, `SELECT ?1`) is typed by its
    /// value, as SQLite does; a NULL is left for PostgreSQL to type.
    fn statement(&self, sql: &str, params: &[Param<'_>]) -> AppResult<tokio_postgres::Statement> {
        let types: Vec<Type> = params
            .iter()
            .map(|param| match param.0 {
                ValueRef::Null => Type::UNKNOWN,
                ValueRef::Integer(_) => Type::INT8,
                ValueRef::Real(_) => Type::FLOAT8,
                ValueRef::Text(_) => Type::TEXT,
                ValueRef::Blob(_) => Type::BYTEA,
            })
            .collect();
        self.runtime
            .block_on(
                self.client
                    .prepare_typed_cached(&numbered_parameters(sql), &types),
            )
            .map_err(|err| self.failed(err))
    }
}

impl Storage for PgConn<'_> {
    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> AppResult<usize> {
        let values = values(params)?;
        let params = as_params(&values);
        let statement = self.statement(sql, &params)?;
        let changed = self
            .runtime
            .block_on(self.client.execute(&statement, &refs(&params)))
            .map_err(|err| self.failed(err))?;
        self.changes.set(self.changes.get() + changed);
        Ok(changed as usize)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&super::Row) -> AppResult<bool>,
    ) -> AppResult<()> {
        let values = values(params)?;
        let params = as_params(&values);
        let statement = self.statement(sql, &params)?;
        let rows = self
            .runtime
            .block_on(self.client.query(&statement, &refs(&params)))
            .map_err(|err| self.failed(err))?;
        // A write's RETURNING rows count as changes, as SQLite counts them.
        if !sql.trim_start().starts_with("SELECT") {
            self.changes.set(self.changes.get() + rows.len() as u64);
        }
        for row in &rows {
            if !each(&PgRow(row))? {
                break;
            }
        }
        Ok(())
    }

    fn total_changes(&self) -> u64 {
        self.changes.get()
    }

    fn lock_rows(&self, sql: &str, params: &[&dyn ToSql]) -> AppResult<()> {
        self.query_each(&format!("{sql} FOR UPDATE"), params, &mut |_| Ok(true))
    }

    /// A transaction-level advisory lock, let go when the transaction ends.
    fn take_turn(&self, work: super::Turn) -> AppResult<bool> {
        let key = TURN_LOCKS + work as i64;
        (self as &Conn).query_one(
            "SELECT pg_try_advisory_xact_lock(?1)",
            params![key],
            |row| row.get(0),
        )
    }
}

/// Brings the schema up to date, one instance at a time.
async fn migrate(client: &Object) -> anyhow::Result<()> {
    let setup = async {
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
                 CREATE TABLE IF NOT EXISTS siwe_schema (version BIGINT NOT NULL);"
            ))
            .await?;
        let version: i64 = client
            .query_opt("SELECT version FROM siwe_schema", &[])
            .await?
            .map(|row| row.get(0))
            .unwrap_or(0);
        anyhow::ensure!(
            version <= SCHEMA.len() as i64,
            "the database has schema version {version}, newer than this binary knows ({}); \
             run a newer siwe-server",
            SCHEMA.len()
        );
        for sql in SCHEMA.iter().skip(version as usize) {
            client.batch_execute(sql).await?;
        }
        client.batch_execute("DELETE FROM siwe_schema").await?;
        client
            .execute(
                "INSERT INTO siwe_schema VALUES ($1)",
                &[&(SCHEMA.len() as i64)],
            )
            .await?;
        client.batch_execute("COMMIT").await?;
        Ok(())
    };
    let result: anyhow::Result<()> = setup.await;
    if result.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result.context("cannot migrate the PostgreSQL database")
}

/// The pool could give no connection: busy (`overloaded`) or PostgreSQL unreachable.
fn pool_error(err: PoolError) -> AppError {
    match err {
        PoolError::Timeout(_) => {
            tracing::warn!("no PostgreSQL connection free; request refused");
            AppError::overloaded()
        }
        other => {
            tracing::error!(error = %other, "cannot reach PostgreSQL");
            super::storage_unavailable()
        }
    }
}

/// Whether PostgreSQL refused a statement for a conflict with a concurrent transaction.
fn is_conflict(err: &tokio_postgres::Error) -> bool {
    let code = err.code();
    code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
}

/// A failed statement: a conflict with a concurrent step is the client's to retry; a lost
/// connection is `storage_unavailable`; anything else is a bug.
fn storage_error(err: tokio_postgres::Error) -> AppError {
    if is_conflict(&err) {
        return AppError::new(
            crate::error::ErrorCode::Overloaded,
            "This change conflicted with another one made at the same time, so nothing was \
             changed; retry.",
        );
    }
    if err.is_closed() || err.source().is_some_and(|e| e.is::<std::io::Error>()) {
        tracing::error!(error = %err, "lost the PostgreSQL connection");
        return super::storage_unavailable();
    }
    AppError::Internal(anyhow::Error::new(err).context("database query failed"))
}
