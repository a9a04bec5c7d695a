//! Sudo mode: the changes a stolen cookie must not be able to make (unlink or link a wallet,
//! change the email, sign out everywhere) need a session that proved a signature recently.

use super::{auth::Authenticated, now_ms, Service};
use crate::error::{AppError, AppResult, ErrorCode};

impl Service {
    /// Whether the session signed within `session.reauth_window_secs` of now. Sessions opened
    /// by an emailed link never signed, so they are not recent.
    pub fn signed_recently(&self, current: &Authenticated) -> bool {
        let window = self.reauth_window.whole_milliseconds() as i64;
        current
            .session
            .authenticated_at
            .is_some_and(|at| now_ms() - at <= window)
    }

    /// Fails with `reauthentication_required` unless the session signed recently.
    pub fn require_recent_signature(&self, current: &Authenticated) -> AppResult<()> {
        if self.signed_recently(current) {
            Ok(())
        } else {
            Err(reauthentication_required())
        }
    }
}

pub(super) fn reauthentication_required() -> AppError {
    AppError::new(
        ErrorCode::ReauthenticationRequired,
        "This change needs a recent signature: sign in with your wallet again, then retry.",
    )
}
