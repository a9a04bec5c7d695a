//! Single-use values (a signed message's nonce, an emailed link's token) are spent whatever
//! the outcome, so a refusal after the spend must be committed with it rather than undo it.
//! [`Spent`] is how such a write says so; only storage failures undo the whole write.

use crate::db::Conn;

use crate::error::{AppError, AppResult};

/// How a write that spent a single-use value ended. The spend is committed in both cases.
pub(super) enum Spent<T> {
    /// Spent, and what came after went through.
    Done(T),
    /// Spent, then refused: the spend and any failure event stay, and the request gets this
    /// error.
    Refused(AppError),
}

impl<T> Spent<T> {
    /// Runs `rest` after a good spend. `rest` refuses before it writes anything, so a refusal
    /// leaves nothing to undo (and needs no savepoint, whose page copies cost as much as the
    /// writes); a failure after a write (storage, or a bug) fails the whole write, spend
    /// included, as any storage failure does.
    pub(super) fn then<U>(
        self,
        conn: &Conn,
        rest: impl FnOnce(&Conn, T) -> AppResult<U>,
    ) -> AppResult<Spent<U>> {
        match self {
            Spent::Done(value) => {
                let before = conn.total_changes();
                match rest(conn, value) {
                    Ok(done) => Ok(Spent::Done(done)),
                    Err(refusal) if conn.total_changes() == before => Ok(Spent::Refused(refusal)),
                    Err(failure) => Err(failure),
                }
            }
            Spent::Refused(refusal) => Ok(Spent::Refused(refusal)),
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
