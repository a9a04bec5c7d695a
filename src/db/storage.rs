//! The storage interface every statement of the server goes through: run a statement, read
//! its rows. SQLite's connection is one implementation; each engine turns the same statement
//! text (SQLite's `?N` parameters) and the same values into its own.
//!
//! Values cross it as rusqlite's [`ToSql`] and [`FromSql`], which our column types implement
//! once, so a row is read the same way whatever engine it came from.

use rusqlite::{
    types::{FromSql, ValueRef},
    ToSql,
};

use crate::error::{AppError, AppResult};

/// What a write or read step is handed: one transaction of one engine.
pub type Conn<'c> = dyn Storage + 'c;

/// One row of an answer, as a step's reading closures receive it.
pub type Row<'r> = dyn Columns + 'r;

/// One transaction of a storage engine (see the module doc).
pub trait Storage {
    /// Runs a statement that returns no rows; how many rows it changed.
    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> AppResult<usize>;

    /// Runs a statement and hands its rows to `each` in order until it answers false.
    fn query_each(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row) -> AppResult<bool>,
    ) -> AppResult<()>;

    /// Rows changed so far on this connection, counting every statement: a step compares
    /// two readings to learn whether anything between them wrote.
    fn total_changes(&self) -> u64;

    /// Whether this transaction has the turn for work that one server at a time does (the
    /// clean-up), keeping it until it ends; false at once when another has it.
    fn take_turn(&self, work: Turn) -> AppResult<bool>;

    /// Runs `sql` (a `SELECT` of rows) so that the rows it finds stay locked until this
    /// transaction ends: another transaction that locks them waits. For steps that read rows,
    /// then change what they decided on. Where one write runs at a time (SQLite), nothing to do.
    fn lock_rows(&self, sql: &str, params: &[&dyn ToSql]) -> AppResult<()>;
}

/// Work that one server at a time does.
#[derive(Debug, Clone, Copy)]
pub enum Turn {
    Cleanup = 1,
}

/// One row of a statement's answer.
pub trait Columns {
    /// Column `index` (from 0), as SQLite would give it.
    fn value(&self, index: usize) -> AppResult<ValueRef<'_>>;
}

impl dyn Columns + '_ {
    /// Column `index` as any type our columns convert from.
    pub fn get<T: FromSql>(&self, index: usize) -> AppResult<T> {
        let value = self.value(index)?;
        T::column_result(value).map_err(|err| unreadable(index, err))
    }
}

/// The error of a stored value this version cannot read (a bug, or a newer version's data).
pub fn unreadable(index: usize, why: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("column {index} cannot be read: {why}"))
}

impl dyn Storage + '_ {
    /// The first row of the answer, if any, read by `read`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        read: impl FnOnce(&Row) -> AppResult<T>,
    ) -> AppResult<Option<T>> {
        let mut read = Some(read);
        let mut found = None;
        self.query_each(sql, params, &mut |row| {
            if let Some(read) = read.take() {
                found = Some(read(row)?);
            }
            Ok(false)
        })?;
        Ok(found)
    }

    /// The first row of an answer that always has one (a `count(*)`).
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        read: impl FnOnce(&Row) -> AppResult<T>,
    ) -> AppResult<T> {
        self.query_opt(sql, params, read)?.ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("a statement returned no row: {sql}"))
        })
    }

    /// Every row of the answer, each read by `read`.
    pub fn query_vec<T>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        mut read: impl FnMut(&Row) -> AppResult<T>,
    ) -> AppResult<Vec<T>> {
        let mut rows = Vec::new();
        self.query_each(sql, params, &mut |row| {
            rows.push(read(row)?);
            Ok(true)
        })?;
        Ok(rows)
    }

    /// Whether the answer has a row.
    pub fn exists(&self, sql: &str, params: &[&dyn ToSql]) -> AppResult<bool> {
        Ok(self.query_opt(sql, params, |_| Ok(()))?.is_some())
    }
}

/// SQLite: statements come from the connection's cache of prepared statements.
impl Storage for rusqlite::Connection {
    fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> AppResult<usize> {
        Ok(self.prepare_cached(sql)?.execute(params)?)
    }

    fn query_each(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
        each: &mut dyn FnMut(&Row) -> AppResult<bool>,
    ) -> AppResult<()> {
        let mut statement = self.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        while let Some(row) = rows.next()? {
            if !each(row)? {
                break;
            }
        }
        Ok(())
    }

    fn total_changes(&self) -> u64 {
        rusqlite::Connection::total_changes(self)
    }

    /// One server per SQLite file (`backup::ServerLock`), and its writer runs one write at a
    /// time: always its turn.
    fn take_turn(&self, _: Turn) -> AppResult<bool> {
        Ok(true)
    }

    fn lock_rows(&self, _: &str, _: &[&dyn ToSql]) -> AppResult<()> {
        Ok(())
    }
}

impl Columns for rusqlite::Row<'_> {
    fn value(&self, index: usize) -> AppResult<ValueRef<'_>> {
        Ok(self.get_ref(index)?)
    }
}
