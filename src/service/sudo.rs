//! Sudo mode: the changes a stolen cookie must not be able to make (unlink or link a wallet,
//! change the email, sign out everywhere) need a session that proved a signature recently, at
//! sign-in or by signing a re-authentication challenge.

use std::sync::Arc;

use super::{
    checked_message::{Refused, SignedMessage},
    contract_sessions::record_contract_session,
    record_event, Authenticated, Challenge, ClientInfo, Service,
};
use crate::domain::address::Address;
use crate::domain::event::EventKind;
use crate::{
    db::{sessions, users},
    domain::token::NonceFor,
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
            .is_some_and(|at| self.now_ms() - at <= window)
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
            Some(address) => Address::parse(address)?,
            None => current.session.address,
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
        let named = address.to_string();
        let purpose = NonceFor::Reauth {
            session_id: current.session.id.as_str(),
            address: &named,
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
        let (user_id, session_id) = (current.account.user.id.clone(), current.session.id.clone());
        let session_address = current.session.address;
        let for_session = session_id.clone();
        let nonce_for = move |service: &Service, nonce: &str, address: &str| {
            let session_id = for_session.as_str();
            service.nonce_is_for(
                nonce,
                NonceFor::Reauth {
                    session_id,
                    address,
                },
            )
        };
        let failed_for = (user_id.clone(), client.clone());
        let signed = SignedMessage {
            message,
            signature,
            nonce_for,
            refused: Refused {
                kind: EventKind::ReauthenticationFailed,
                owner: Some(user_id.clone()),
                client: client.clone(),
            },
        };
        let clock = self.clock.clone();
        let done = self
            .check_then_write(signed, move |conn, checked| {
                let address = &checked.address;
                if users::find_wallet(conn, address)?.is_none_or(|w| w.user_id != user_id) {
                    return Err(wallet_not_on_account());
                }
                if !sessions::mark_authenticated(conn, &user_id, &session_id, clock.now_ms())? {
                    return Err(AppError::unauthenticated());
                }
                // The session's own wallet contract signed again: its newer signature is the
                // one to check from now on. (Another wallet of the account vouches for this
                // change only; the session stays the one its wallet opened.)
                if let Some(signer) = checked.contract.as_ref() {
                    if *address == session_address {
                        record_contract_session(
                            conn,
                            &session_id,
                            address,
                            signer,
                            clock.now_ms(),
                        )?;
                    }
                }
                record_event(
                    conn,
                    clock.now_ms(),
                    EventKind::Reauthenticated,
                    Some(&user_id),
                    Some(address),
                    &client,
                    None,
                )
            })
            .await;
        if let Err(refused) = &done {
            // Refused before the writer, so not recorded there; this request is the account's
            // own (a session), so its log shows a signature that did not match.
            if refused.code() == ErrorCode::InvalidSignature {
                let (user_id, client) = failed_for;
                let clock = self.clock.clone();
                self.db.write_later(move |conn| {
                    let failed = EventKind::ReauthenticationFailed;
                    let detail = Some(ErrorCode::InvalidSignature.as_str());
                    record_event(
                        conn,
                        clock.now_ms(),
                        failed,
                        Some(&user_id),
                        None,
                        &client,
                        detail,
                    )
                });
            }
        }
        done?;
        tracing::info!(session_id = %current.session.id, "session re-authenticated");
        Ok(())
    }
}

fn wallet_not_on_account() -> AppError {
    AppError::new(
        ErrorCode::WalletNotFound,
        "No wallet with this address is linked to your account.",
    )
}

/// The refusal of a sensitive change from a session that has not signed recently.
pub(super) fn reauthentication_required() -> AppError {
    AppError::new(
        ErrorCode::ReauthenticationRequired,
        "This change needs a recent signature: sign the message from \
         POST /api/auth/reauthenticate/challenge, send it to POST /api/auth/reauthenticate, \
         then try again.",
    )
}
