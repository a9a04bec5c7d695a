//! /api/auth/reauthenticate: a fresh signature for sensitive changes ("sudo mode").

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{param::Header, payload::Json, ApiResponse, OpenApi};

use super::{
    client_info,
    dto::{ChallengeResponse, ReauthChallengeRequest, SignedMessage},
    error::ApiError,
    security::SessionAuth,
    ApiTags, AppState,
};

pub struct ReauthApi;

#[derive(ApiResponse)]
pub enum ReauthenticatedResponse {
    /// The session signed just now: sensitive changes are allowed for
    /// `session.reauth_window_secs`.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl ReauthApi {
    /// Get a message that re-authenticates the session
    ///
    /// Unlinking or linking a wallet, changing the email and signing out everywhere need a
    /// session that signed within `session.reauth_window_secs`; otherwise they answer 403
    /// `reauthentication_required`. This builds the exact EIP-4361 message for one of the
    /// account's wallets (the session's own by default) whose nonce serves only this session
    /// and that wallet. Sign it (personal_sign) and POST it to /api/auth/reauthenticate.
    /// Errors: 400 `invalid_address`; 401 `unauthenticated`; 403 `csrf_invalid`; 404
    /// `wallet_not_found` (not a wallet of this account); 429 `rate_limited`.
    #[oai(
        path = "/reauthenticate/challenge",
        method = "post",
        operation_id = "createReauthChallenge"
    )]
    async fn challenge(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: Json<ReauthChallengeRequest>,
    ) -> Result<ChallengeResponse, ApiError> {
        let challenge = state
            .service
            .reauth_challenge(&auth.current, body.0.address.as_deref())?;
        Ok(ChallengeResponse::Ok(Json(challenge.into())))
    }

    /// Re-authenticate the session
    ///
    /// Checks a signed re-authentication challenge like a sign-in (domain, URI, chain, time,
    /// signature; the nonce works once) and marks the session as having signed now. A sign-in
    /// nonce, or another session's challenge, is refused. The signing wallet must still be on
    /// the account. Errors: 400 `invalid_message`, `invalid_signature_format`; 401
    /// `unauthenticated`, `invalid_nonce`, `invalid_signature`, `domain_mismatch`,
    /// `uri_mismatch`, `chain_not_allowed`, `message_expired`, `message_not_yet_valid`,
    /// `issued_at_invalid`, `contract_wallet_unsupported`; 403 `csrf_invalid`; 404
    /// `wallet_not_found`; 429 `rate_limited`; 503 `chain_unavailable` (a smart-contract
    /// wallet's signature is checked on its chain, as for a sign-in).
    #[oai(
        path = "/reauthenticate",
        method = "post",
        operation_id = "reauthenticate"
    )]
    async fn reauthenticate(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: Json<SignedMessage>,
    ) -> Result<ReauthenticatedResponse, ApiError> {
        let SignedMessage { message, signature } = body.0;
        state
            .service
            .reauthenticate(
                &auth.current,
                message.into(),
                signature.into(),
                client_info(req),
            )
            .await?;
        Ok(ReauthenticatedResponse::Done)
    }
}
