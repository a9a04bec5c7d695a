//! /api/pairings: sign in on this device with a wallet on another (a phone). The desktop creates
//! a pairing and polls it; the phone looks it up, signs its challenge (or declines); the desktop
//! claims its session with its secret. Its JSON shapes are in `bodies.rs`.

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{
    param::Path,
    payload::{Json, PlainText},
    ApiResponse, OpenApi,
};

mod bodies;

use self::bodies::{
    created_body, PairingApprovedBody, PairingBody, PairingClaimRequest, PairingCreatedBody,
    PairingDeclinedBody, PairingIdBody, PairingLookupRequest, PairingStateBody,
};
use super::{
    auth::sign_in_body,
    client_info,
    dto::{ChallengeRequest, ChallengeResponse, SignInBody, SignedMessage},
    error::ApiError,
    ApiTags, AppState,
};

pub struct PairingApi;

#[derive(ApiResponse)]
pub enum PairingCreatedResponse {
    /// Created; show `code` and the QR code, poll the pairing, keep `secret`.
    #[oai(status = 201)]
    Created(
        Json<PairingCreatedBody>,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum PairingResponse {
    /// The pairing now.
    #[oai(status = 200)]
    Ok(Json<PairingBody>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum PairingQrResponse {
    /// The QR code of the phone's link.
    #[oai(status = 200, content_type = "image/svg+xml")]
    Ok(PlainText<String>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum PairingLookupResponse {
    /// The pending pairing with this code.
    #[oai(status = 200)]
    Ok(Json<PairingIdBody>),
}

#[derive(ApiResponse)]
pub enum PairingApprovedResponse {
    /// Approved: the desktop may now claim its session. This device gets none.
    #[oai(status = 200)]
    Ok(Json<PairingApprovedBody>),
}

#[derive(ApiResponse)]
pub enum PairingDeclinedResponse {
    /// Declined: the desktop's polling says so.
    #[oai(status = 200)]
    Ok(Json<PairingDeclinedBody>),
}

#[derive(ApiResponse)]
#[allow(clippy::large_enum_variant)]
pub enum PairingClaimResponse {
    /// Signed in, as `POST /api/auth/verify` answers: the session cookie is set and the token
    /// returned for bearer use.
    #[oai(status = 200)]
    Ok(Json<SignInBody>, #[oai(header = "Set-Cookie")] String),
}

/// Answers that must not be kept by any cache.
const NO_STORE: &str = "no-store";

#[OpenApi(prefix_path = "/api/pairings", tag = "ApiTags::Pairing")]
impl PairingApi {
    /// Start a sign-in from another device
    ///
    /// For a desktop without a wallet: creates a pairing (for `pairing.ttl_secs`) that a wallet
    /// on a phone can approve. Show `code` and the QR code at `qrUrl` (it holds `phoneUrl`,
    /// which carries only the id), poll `GET /api/pairings/{id}`, and once it is `approved`
    /// claim the session with `secret`. Takes no body. Errors: 404 `not_found` (`pairing.enabled`
    /// is false); 429 `rate_limited`; 503 `pairing_capacity` (`pairing.max_pending` pairings
    /// are live; with `Retry-After`), `overloaded`.
    #[oai(path = "/", method = "post", operation_id = "createPairing")]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<PairingCreatedResponse, ApiError> {
        let created = state.pairings.create(client_info(req)).await?;
        Ok(PairingCreatedResponse::Created(
            Json(created_body(created)),
            NO_STORE.into(),
        ))
    }

    /// Get a pairing
    ///
    /// Its state (the desktop polls this every second or two), its code, and the device that
    /// asked for it (browser and OS from its User-Agent, its address, and whether it looks like
    /// the same network as the device asking now), for the phone's page. Changes nothing.
    /// Errors: 404 `pairing_not_found` (also `not_found` when `pairing.enabled` is false); 429
    /// `rate_limited`.
    #[oai(path = "/:id", method = "get", operation_id = "getPairing")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// The pairing's id.
        id: Path<String>,
    ) -> Result<PairingResponse, ApiError> {
        let view = state.pairings.view(&id.0, &client_info(req))?;
        Ok(PairingResponse::Ok(Json(view.into()), NO_STORE.into()))
    }

    /// Get a pairing's QR code
    ///
    /// An SVG image of the QR code of the phone's link (`phoneUrl`), while the pairing is
    /// pending. Errors: 404 `pairing_not_found` (also `not_found` when `pairing.enabled` is
    /// false); 409 `pairing_declined`, `pairing_used`; 410 `pairing_expired`; 429
    /// `rate_limited`.
    #[oai(path = "/:id/qr", method = "get", operation_id = "getPairingQr")]
    async fn qr(
        &self,
        state: Data<&Arc<AppState>>,
        /// The pairing's id.
        id: Path<String>,
    ) -> Result<PairingQrResponse, ApiError> {
        let svg = state.pairings.qr_svg(&id.0)?;
        Ok(PairingQrResponse::Ok(PlainText(svg), NO_STORE.into()))
    }

    /// Find a pairing by its code
    ///
    /// For a phone without the QR code: the pending pairing whose code was typed (in any case,
    /// with or without spaces and dashes). Errors: 400 `invalid_request`; 404
    /// `pairing_not_found` (also `not_found` when `pairing.enabled` is false); 409
    /// `pairing_declined`, `pairing_used`; 410 `pairing_expired`; 413 `payload_too_large`; 429
    /// `rate_limited`.
    #[oai(path = "/lookup", method = "post", operation_id = "lookUpPairing")]
    async fn lookup(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<PairingLookupRequest>,
    ) -> Result<PairingLookupResponse, ApiError> {
        let id = state.pairings.lookup(&body.0.code)?;
        Ok(PairingLookupResponse::Ok(Json(PairingIdBody {
            id: id.to_string(),
        })))
    }

    /// Get the message that approves a pairing
    ///
    /// The exact EIP-4361 message for `address` to sign (personal_sign) to approve this pending
    /// pairing. Its statement says that it signs in ANOTHER device and names that device and
    /// the code ("Sign in on another device (Firefox on Windows), code BDFH-JKLM."); its nonce
    /// serves this pairing and this address only, never a sign-in. Errors: 400
    /// `invalid_address`, `invalid_request`; 401 `chain_not_allowed`; 404 `pairing_not_found`
    /// (also `not_found` when `pairing.enabled` is false); 409 `pairing_declined`,
    /// `pairing_used`; 410 `pairing_expired`; 413 `payload_too_large`; 429 `rate_limited`.
    #[oai(
        path = "/:id/challenge",
        method = "post",
        operation_id = "createPairingChallenge"
    )]
    async fn challenge(
        &self,
        state: Data<&Arc<AppState>>,
        /// The pairing's id.
        id: Path<String>,
        body: Json<ChallengeRequest>,
    ) -> Result<ChallengeResponse, ApiError> {
        let challenge = state
            .pairings
            .challenge(&id.0, &body.0.address, body.0.chain_id)?;
        Ok(ChallengeResponse::Ok(Json(challenge.into())))
    }

    /// Approve a pairing
    ///
    /// Checks the signed challenge as `POST /api/auth/verify` checks a sign-in (key or
    /// contract wallet, nonce spent once) and, in the same transaction, approves the pending
    /// pairing for the wallet's account (created if the wallet has none) and records
    /// `pairing_approved` in its log. Of racing approvals, one wins; the others get
    /// `pairing_used`. This device gets no session. Errors: 400 `invalid_request`,
    /// `invalid_message`, `invalid_signature_format`; 401 `invalid_nonce` (also a message
    /// signed for a sign-in or another pairing), `invalid_signature`, `domain_mismatch`,
    /// `uri_mismatch`, `chain_not_allowed`, `message_expired`, `message_not_yet_valid`,
    /// `issued_at_invalid`, `contract_wallet_unsupported`; 404 `pairing_not_found` (also
    /// `not_found` when `pairing.enabled` is false); 409 `pairing_declined`, `pairing_used`,
    /// `wallet_already_linked`; 410 `pairing_expired`; 413 `payload_too_large`; 429
    /// `rate_limited`; 503 `chain_unavailable`.
    #[oai(
        path = "/:id/approve",
        method = "post",
        operation_id = "approvePairing"
    )]
    async fn approve(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// The pairing's id.
        id: Path<String>,
        body: Json<SignedMessage>,
    ) -> Result<PairingApprovedResponse, ApiError> {
        let SignedMessage { message, signature } = body.0;
        let address = state
            .pairings
            .approve(&id.0, message.into(), signature.into(), client_info(req))
            .await?;
        Ok(PairingApprovedResponse::Ok(Json(PairingApprovedBody {
            state: PairingStateBody::Approved,
            address: address.to_string(),
        })))
    }

    /// Decline a pairing
    ///
    /// For the person on the phone who did not start this sign-in: the pending pairing is
    /// declined and the desktop's polling says so. Takes no body. Errors: 404
    /// `pairing_not_found` (also `not_found` when `pairing.enabled` is false); 409
    /// `pairing_declined`, `pairing_used`; 410 `pairing_expired`; 429 `rate_limited`.
    #[oai(
        path = "/:id/decline",
        method = "post",
        operation_id = "declinePairing"
    )]
    async fn decline(
        &self,
        state: Data<&Arc<AppState>>,
        /// The pairing's id.
        id: Path<String>,
    ) -> Result<PairingDeclinedResponse, ApiError> {
        state.pairings.decline(&id.0).await?;
        Ok(PairingDeclinedResponse::Ok(Json(PairingDeclinedBody {
            state: PairingStateBody::Declined,
        })))
    }

    /// Claim the session of an approved pairing
    ///
    /// The desktop's last step: with the `secret` from the pairing's creation, opens a session
    /// on this device for the account that approved it, answered like `POST /api/auth/verify`
    /// (session cookie, CSRF token, bearer token), once. The session's address and User-Agent
    /// are this request's; it counts as signed at the approval. Errors: 400 `invalid_request`;
    /// 403 `invalid_pairing_secret` (checked first; the pairing stays claimable); 404
    /// `pairing_not_found` (also `not_found` when `pairing.enabled` is false); 409
    /// `pairing_not_approved` (poll again), `pairing_declined`, `pairing_used` (claimed
    /// already); 410 `pairing_expired`; 413 `payload_too_large`; 429 `rate_limited`.
    #[oai(path = "/:id/claim", method = "post", operation_id = "claimPairing")]
    async fn claim(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// The pairing's id.
        id: Path<String>,
        body: Json<PairingClaimRequest>,
    ) -> Result<PairingClaimResponse, ApiError> {
        let signed_in = state
            .pairings
            .claim(&id.0, &body.0.secret, client_info(req))
            .await?;
        let cookie = state.cookie.set(&signed_in.token);
        Ok(PairingClaimResponse::Ok(
            Json(sign_in_body(signed_in)),
            cookie,
        ))
    }
}
