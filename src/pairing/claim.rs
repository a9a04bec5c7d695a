//! The desktop's side once approved: its secret turns the approval into a session of its own,
//! once, in one writer transaction.

use std::sync::Arc;

use super::{not_found, refusal, Pairings};
use crate::{
    db::pairings,
    domain::{
        event::EventKind,
        pairing::{PairingId, PairingState},
        token,
    },
    error::{AppError, AppResult, ErrorCode},
    service::{record_event, ClientInfo, SignIn},
};

/// Longest secret looked at: ours are 43 characters.
const SECRET_MAX: usize = 128;

impl Pairings {
    /// The session of approved pairing `id` for the desktop `client` that holds its `secret`:
    /// the secret's MAC is compared in constant time, the pairing goes from approved to claimed
    /// and the session opens (signed as of the approval, with this request's address and
    /// User-Agent), all in one transaction; answered like a sign-in.
    pub async fn claim(&self, id: &str, secret: &str, client: ClientInfo) -> AppResult<SignIn> {
        super::counted("claim", self.claim_approved(id, secret, client).await)
    }

    async fn claim_approved(
        &self,
        id: &str,
        secret: &str,
        client: ClientInfo,
    ) -> AppResult<SignIn> {
        self.require_enabled()?;
        let id = PairingId::parse(id).ok_or_else(not_found)?;
        if secret.len() > SECRET_MAX {
            return Err(invalid_secret());
        }
        let presented = self
            .service
            .mac_keys()
            .pairing_secret_mac(id.as_str(), secret);
        let service = Arc::clone(&self.service);
        let signed_in = self
            .service
            .db()
            .write(move |conn| {
                let now = service.clock().now_ms();
                let pairing = pairings::find(conn, &id)?.ok_or_else(not_found)?;
                // Before anything about its state: only the desktop learns how it went.
                if !token::pairing_secret_matches(&pairing.secret_mac, &presented) {
                    return Err(invalid_secret());
                }
                let state = pairing.state_at(now);
                if state != PairingState::Approved {
                    return Err(refusal(state));
                }
                let approval = pairings::claim(conn, &id, now)?
                    .ok_or_else(|| refusal(PairingState::Claimed))?;
                let signed_in = service.open_session_signed_elsewhere(conn, &approval, &client)?;
                record_event(
                    conn,
                    now,
                    EventKind::SignIn,
                    Some(&approval.user_id),
                    Some(&approval.address),
                    &client,
                    Some("paired"),
                )?;
                Ok(signed_in)
            })
            .await?;
        tracing::info!(
            address = %signed_in.session.address,
            user_id = %signed_in.account.user.id,
            "pairing claimed"
        );
        Ok(signed_in)
    }
}

fn invalid_secret() -> AppError {
    AppError::new(
        ErrorCode::InvalidPairingSecret,
        "This is not the secret this sign-in from another device was created with.",
    )
}
