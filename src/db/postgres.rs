//! PostgreSQL, for several identical instances on one database (`database.url`): a pool of
//! tokio-postgres connections (deadpool), each step one transaction on one connection.
//!
//! The service's steps are synchronous closures over [`Conn`], shared with SQLite, whose
//! single writer runs them. Here they run where blocking is allowed (a blocking thread, or the
//! async worker handed over by `block_in_place`), and each statement waits for its answer on
//! the runtime's I/O. Steps run SERIALIZABLE: what SQLite's one writer gives by running one
//! step at a time, PostgreSQL gives by refusing the later of two steps that conflict, which
//! the request gets as 503 `overloaded` (retry) with nothing stored.

use std::{cell::Cell, error::Error as _, time::Duration};

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use rusqlite::{
    types::{ToSqlOutput, ValueRef},
    ToSql,
};
use tokio::runtime::Handle;
use tokio_postgres::{
    error::SqlState,
    types::{to_sql_checked, IsNull, Type},
    NoTls,
};

use super::{Columns, Conn, Storage, READ_WAIT};
use crate::error::{AppError, AppResult};

const SCHEMA: &[&str] = &[include_str!("migrations/postgres/0001_schema.sql")];
/// The advisory lock instances take to migrate one at a time.
const MIGRATION_LOCK: i64 = 0x5157_4553_4d49_4752;

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
            Step::Write => "BEGIN ISOLATION LEVEL SERIALIZABLE",
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
        work: impl FnOnce(&Conn) -> AppResult<T>,
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
        F: FnOnce(&Conn) -> AppResult<T> + Send + 'static,
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
        F: FnOnce(&Conn) -> AppResult<T> + Send + 'static,
    {
        let engine = self.clone();
        self.runtime
            .spawn(async move { finish(engine.run(step, work).await) });
    }

    fn transaction<T>(
        &self,
        client: Object,
        step: Step,
        work: impl FnOnce(&Conn) -> AppResult<T>,
    ) -> AppResult<T> {
        let conn = PgConn {
            client: &client,
            runtime: &self.runtime,
            changes: Cell::new(0),
        };
        conn.batch(step.begin())?;
        let result = work(&conn).and_then(|value| conn.batch("COMMIT").map(|()| value));
        if result.is_err() && conn.batch("ROLLBACK").is_err() {
            // The connection is in an unknown state: it leaves the pool.
            drop(Object::take(client));
        }
        result
    }
}

/// One transaction's connection.
struct PgConn<'a> {
    client: &'a Object,
    runtime: &'a Handle,
    changes: Cell<u64>,
}

impl PgConn<'_> {
    fn batch(&self, sql: &str) -> AppResult<()> {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(storage_error)
    }

    fn statement(&self, sql: &str) -> AppResult<tokio_postgres::Statement> {
        self.runtime
            .block_on(self.client.prepare_cached(&numbered_parameters(sql)))
            .map_err(storage_error)
    }
}

impl Storage for PgConn<'_> {
    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> AppResult<usize> {
        let statement = self.statement(sql)?;
        let values = values(params)?;
        let changed = self
            .runtime
            .block_on(self.client.execute(&statement, &refs(&as_params(&values))))
            .map_err(storage_error)?;
        self.changes.set(self.changes.get() + changed);
        Ok(changed as usize)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&super::Row) -> AppResult<bool>,
    ) -> AppResult<()> {
        let statement = self.statement(sql)?;
        let values = values(params)?;
        let rows = self
            .runtime
            .block_on(self.client.query(&statement, &refs(&as_params(&values))))
            .map_err(storage_error)?;
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
}

/// SQLite's `?N` parameters as PostgreSQL's `$N` (our statements have no `?` elsewhere).
fn numbered_parameters(sql: &str) -> String {
    sql.replace('?', "$")
}

/// A parameter as SQLite would bind it, sent as the type PostgreSQL asks for.
#[derive(Debug)]
struct Param<'a>(ValueRef<'a>);

fn values<'a>(params: &'a [&'a dyn ToSql]) -> AppResult<Vec<ToSqlOutput<'a>>> {
    params.iter().map(|param| Ok(param.to_sql()?)).collect()
}

fn as_params<'a>(values: &'a [ToSqlOutput<'a>]) -> Vec<Param<'a>> {
    values
        .iter()
        .map(|value| {
            Param(match value {
                ToSqlOutput::Borrowed(value) => *value,
                ToSqlOutput::Owned(value) => value.into(),
                // Not used by our columns.
                _ => ValueRef::Null,
            })
        })
        .collect()
}

fn refs<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(|param| param as _).collect()
}

impl tokio_postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use tokio_postgres::types::ToSql as Pg;
        match (self.0, ty) {
            (ValueRef::Null, _) => Ok(IsNull::Yes),
            (ValueRef::Integer(n), &Type::INT8) => Pg::to_sql(&n, ty, out),
            (ValueRef::Integer(n), &Type::INT4) => Pg::to_sql(&i32::try_from(n)?, ty, out),
            (ValueRef::Integer(n), &Type::INT2) => Pg::to_sql(&i16::try_from(n)?, ty, out),
            (ValueRef::Integer(n), &Type::BOOL) => Pg::to_sql(&(n != 0), ty, out),
            (ValueRef::Real(x), &Type::FLOAT8) => Pg::to_sql(&x, ty, out),
            (ValueRef::Text(text), _) if <&str as Pg>::accepts(ty) => {
                Pg::to_sql(&std::str::from_utf8(text)?, ty, out)
            }
            (ValueRef::Blob(bytes), &Type::BYTEA) => Pg::to_sql(&bytes, ty, out),
            (value, ty) => Err(format!("cannot send {:?} as {ty}", value.data_type()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A row, its columns read as SQLite would give them.
struct PgRow<'a>(&'a tokio_postgres::Row);

impl Columns for PgRow<'_> {
    fn value(&self, index: usize) -> AppResult<ValueRef<'_>> {
        let row = self.0;
        let column = row
            .columns()
            .get(index)
            .ok_or_else(|| super::unreadable(index, "no such column"))?;
        let read = |err: tokio_postgres::Error| super::unreadable(index, err);
        let value = match *column.type_() {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(index)
                .map_err(read)?
                .map(ValueRef::Integer),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)
                .map_err(read)?
                .map(|n| ValueRef::Integer(n.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(index)
                .map_err(read)?
                .map(|n| ValueRef::Integer(n.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)
                .map_err(read)?
                .map(|b| ValueRef::Integer(b.into())),
            Type::FLOAT8 => row
                .try_get::<_, Option<f64>>(index)
                .map_err(read)?
                .map(ValueRef::Real),
            Type::BYTEA => row
                .try_get::<_, Option<&[u8]>>(index)
                .map_err(read)?
                .map(ValueRef::Blob),
            _ => row
                .try_get::<_, Option<&str>>(index)
                .map_err(read)?
                .map(|text| ValueRef::Text(text.as_bytes())),
        };
        Ok(value.unwrap_or(ValueRef::Null))
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

/// A failed statement: a conflict with a concurrent step is the client's to retry; a lost
/// connection is `storage_unavailable`; anything else is a bug.
fn storage_error(err: tokio_postgres::Error) -> AppError {
    let code = err.code();
    if code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
    {
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
