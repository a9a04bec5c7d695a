//! Sudo mode: the changes a stolen cookie must not be able to make (unlink or link a wallet,
//! change the email, sign out everywhere) need a session that proved a signature recently, at
//! sign-in or by signing a re-authentication challenge.

use std::sync::Arc;

use super::{
    accounts::Challenge,
    auth::{invalid_nonce, Authenticated, CheckedMessage},
    event_kind, now_ms, record_event, ClientInfo, Service,
};
use crate::{
    db::{self, nonces, sessions, users},
    domain::{
        siwe,
        token::{self, NonceFor},
    },
    error::{AppError, AppResult, ErrorCode},
};

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

    /// The exact message that re-authenticates this session when `address` (one of the
    /// account's wallets; the session's own by default) signs it. Its nonce is bound to the
    /// session and the address, so it serves for nothing else.
    pub fn reauth_challenge(
        &self,
        current: &Authenticated,
        address: Option<&str>,
    ) -> AppResult<Challenge> {
        let address = match address {
            Some(address) => siwe::parse_address(address)?,
            None => current.session.address.clone(),
        };
        let wallet = current
            .account
            .wallets
            .iter()
            .find(|w| w.address == address)
            .ok_or_else(wallet_not_on_account)?;
        // The wallet's own chain when it is still allowed; else the default.
        let chain_id = Some(wallet.chain_id)
            .filter(|c| self.policy.chain_ids.is_empty() || self.policy.chain_ids.contains(c));
        let statement = format!(
            "Confirm a sensitive change to account {} on {}.",
            current.account.user.id, self.identity.domain
        );
        let purpose = NonceFor::Reauth {
            session_id: &current.session.id,
            address: &address,
        };
        self.build_challenge(&address, chain_id, &statement, purpose)
    }

    /// Checks a signed re-authentication challenge (through the same path as sign-in) and
    /// records that the session signed now. Only a nonce issued for this session and the
    /// signing address is accepted, once; the address must still be on the account.
    pub async fn reauthenticate(
        self: &Arc<Self>,
        current: &Authenticated,
        message: String,
        signature: String,
        client: ClientInfo,
    ) -> AppResult<()> {
        let service = Arc::clone(self);
        let (user_id, session_id) = (current.account.user.id.clone(), current.session.id.clone());
        self.check_then_write(message, signature, move |conn, mut checked| {
            if let Err(refusal) =
                service.spend_reauth_nonce(conn, &mut checked, &user_id, &session_id, &client)?
            {
                return Ok(Err(refusal));
            }
            let address = checked.address;
            // The spent nonce stays spent whatever happens to the rest.
            Ok(db::atomically(conn, |conn| {
                if users::find_wallet(conn, &address)?.is_none_or(|w| w.user_id != user_id) {
                    return Err(wallet_not_on_account());
                }
                if !sessions::mark_authenticated(conn, &user_id, &session_id, now_ms())? {
                    return Err(AppError::unauthenticated());
                }
                record_event(
                    conn,
                    event_kind::REAUTHENTICATED,
                    Some(&user_id),
                    Some(&address),
                    &client,
                    None,
                )
            }))
        })
        .await??;
        tracing::info!(session_id = %current.session.id, "session re-authenticated");
        Ok(())
    }

    /// Spends a re-authentication nonce: only one this server issued for this session and the
    /// message's address is recorded (so nobody can spend another's), and only once. A refusal
    /// is recorded on the account and returned in the inner result.
    fn spend_reauth_nonce(
        &self,
        conn: &rusqlite::Connection,
        checked: &mut CheckedMessage,
        user_id: &str,
        session_id: &str,
        client: &ClientInfo,
    ) -> AppResult<AppResult<()>> {
        let nonce = checked.parsed.message.nonce.as_str();
        let purpose = NonceFor::Reauth {
            session_id,
            address: &checked.address,
        };
        let usable = match token::nonce_expiry(nonce) {
            Some(expires_at)
                if expires_at > now_ms() && self.keys.nonce_matches(nonce, purpose) =>
            {
                nonces::spend(conn, nonce, expires_at)?
            }
            _ => false,
        };
        let refusal = match (usable, checked.refusal.take()) {
            (true, None) => return Ok(Ok(())),
            (true, Some(refusal)) => refusal,
            (false, _) => invalid_nonce(),
        };
        let reason = refusal.code().as_str();
        tracing::info!(address = %checked.address, reason, "re-authentication refused");
        record_event(
            conn,
            event_kind::REAUTHENTICATION_FAILED,
            Some(user_id),
            Some(&checked.address),
            client,
            Some(reason),
        )?;
        Ok(Err(refusal))
    }
}

fn wallet_not_on_account() -> AppError {
    AppError::new(
        ErrorCode::WalletNotFound,
        "No wallet with this address is linked to your account.",
    )
}

pub(super) fn reauthentication_required() -> AppError {
    AppError::new(
        ErrorCode::ReauthenticationRequired,
        "This change needs a recent signature: sign the message from \
         POST /api/auth/reauthenticate/challenge, send it to POST /api/auth/reauthenticate, \
         then try again.",
    )
}
