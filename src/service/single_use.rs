//! Single-use values (a signed message's nonce, an emailed link's token) are spent whatever
//! the outcome, so a refusal after the spend must be committed with it rather than undo it.
//! [`Spent`] is how such a write says so; only storage failures undo the whole write.

use crate::db::Conn;

use crate::{
    db,
    error::{AppError, AppResult},
};

/// How a write that spent a single-use value ended. The spend is committed in both cases.
pub(super) enum Spent<T> {
    /// Spent, and what came after went through.
    Done(T),
    /// Spent, then refused (or what came after failed and was undone): the spend and any
    /// failure event stay, and the request gets this error.
    Refused(AppError),
}

impl<T> Spent<T> {
    /// Runs `rest` after a good spend, atomically: its failure undoes only its own writes.
    pub(super) fn then<U>(
        self,
        conn: &Conn,
        rest: impl FnOnce(&Conn, T) -> AppResult<U>,
    ) -> Spent<U> {
        match self {
            Spent::Done(value) => match db::atomically(conn, |conn| rest(conn, value)) {
                Ok(done) => Spent::Done(done),
                Err(refusal) => Spent::Refused(refusal),
            },
            Spent::Refused(refusal) => Spent::Refused(refusal),
        }
    }

    /// The request's answer to a committed (or wholly failed) write.
    pub(super) fn answer(written: AppResult<Spent<T>>) -> AppResult<T> {
        match written? {
            Spent::Done(done) => Ok(done),
            Spent::Refused(refusal) => Err(refusal),
        }
    }
}
