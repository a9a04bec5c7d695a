//! Values between the two engines: a parameter bound as SQLite would bind it, sent as the type
//! PostgreSQL asks for, and a PostgreSQL row's columns read as SQLite would give them, so that
//! our column types convert once (rusqlite's `ToSql` and `FromSql`) for both.

use rusqlite::{
    types::{ToSqlOutput, ValueRef},
    ToSql,
};
use tokio_postgres::types::{to_sql_checked, IsNull, Type};

use crate::{db::Columns, error::AppResult};

/// SQLite's `?N` parameters as PostgreSQL's `$N` (our statements have no `?` elsewhere).
pub(super) fn numbered_parameters(sql: &str) -> String {
    sql.replace('?', "$")
}

/// A parameter as SQLite would bind it, sent as the type PostgreSQL asks for.
#[derive(Debug)]
pub(super) struct Param<'a>(pub(super) ValueRef<'a>);

pub(super) fn values<'a>(params: &'a [&'a dyn ToSql]) -> AppResult<Vec<ToSqlOutput<'a>>> {
    params.iter().map(|param| Ok(param.to_sql()?)).collect()
}

pub(super) fn as_params<'a>(values: &'a [ToSqlOutput<'a>]) -> Vec<Param<'a>> {
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

pub(super) fn refs<'a>(
    params: &'a [Param<'a>],
) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
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
pub(super) struct PgRow<'a>(pub(super) &'a tokio_postgres::Row);

impl Columns for PgRow<'_> {
    fn value(&self, index: usize) -> AppResult<ValueRef<'_>> {
        let row = self.0;
        let column = row
            .columns()
            .get(index)
            .ok_or_else(|| crate::db::unreadable(index, "no such column"))?;
        let read = |err: tokio_postgres::Error| crate::db::unreadable(index, err);
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
