//! /api/auth: nonce, verify, session, csrf, logout.

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{param::Header, payload::Json, ApiResponse, OpenApi};

use super::{
    dto::{CsrfBody, NonceBody, SessionBody, SignInBody, VerifyRequest},
    error::ApiError,
    security::SessionAuth,
    ApiTags, AppState,
};
use crate::service::ClientInfo;

pub struct AuthApi;

#[derive(ApiResponse)]
pub enum NonceResponse {
    /// A fresh single-use nonce.
    #[oai(status = 200)]
    Ok(Json<NonceBody>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum VerifyResponse {
    /// Signed in. The session cookie is set and the token returned for bearer use.
    #[oai(status = 200)]
    Ok(Json<SignInBody>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum SessionResponse {
    /// The current session.
    #[oai(status = 200)]
    Ok(Json<SessionBody>),
}

#[derive(ApiResponse)]
pub enum CsrfResponse {
    /// The CSRF token of the current session.
    #[oai(status = 200)]
    Ok(Json<CsrfBody>),
}

#[derive(ApiResponse)]
pub enum LogoutResponse {
    /// Signed out: the session is revoked and the cookie cleared.
    #[oai(status = 204)]
    SignedOut(#[oai(header = "Set-Cookie")] String),
}

fn client_info(req: &Request) -> ClientInfo {
    ClientInfo {
        ip: Some(crate::http::request_info(req).client_ip.to_string()),
        user_agent: req
            .header(poem::http::header::USER_AGENT)
            .map(ToString::to_string),
    }
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Get a sign-in nonce
    ///
    /// Issues a single-use nonce (valid for `siwe.nonce_ttl_secs`) and the domain, URI, version and
    /// chains a message must carry. Build the EIP-4361 message from these, have the wallet sign it
    /// with `personal_sign`, and send both to `POST /api/auth/verify`.
    #[oai(path = "/nonce", method = "get", operation_id = "getNonce")]
    async fn nonce(&self, state: Data<&Arc<AppState>>) -> Result<NonceResponse, ApiError> {
        let issued = state.auth.issue_nonce().await?;
        Ok(NonceResponse::Ok(Json(issued.into()), "no-store".into()))
    }

    /// Sign in with a signed message
    ///
    /// Verifies an EIP-4361 message and its signature, spends its nonce, finds or creates the
    /// account of the signing address, and opens a session (cookie and bearer token).
    /// Errors: 400 `invalid_request`, `invalid_message`, `invalid_signature_format` (nothing is
    /// spent); 401 `invalid_nonce`, `domain_mismatch`, `uri_mismatch`, `chain_not_allowed`,
    /// `message_expired`, `message_not_yet_valid`, `issued_at_invalid`, `invalid_signature` (the
    /// nonce is spent); 413 `payload_too_large`.
    #[oai(path = "/verify", method = "post", operation_id = "verify")]
    async fn verify(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<VerifyRequest>,
    ) -> Result<VerifyResponse, ApiError> {
        let VerifyRequest { message, signature } = body.0;
        let signed_in = state
            .auth
            .sign_in(message, signature, client_info(req))
            .await?;
        let cookie = state.cookie.set(&signed_in.token);
        Ok(VerifyResponse::Ok(
            Json(SignInBody {
                user: (&signed_in.account).into(),
                session: (&signed_in.session).into(),
                csrf_token: signed_in.csrf_token,
                created: signed_in.created,
                token: signed_in.token,
            }),
            cookie,
        ))
    }

    /// Get the current session
    ///
    /// The signed-in user, the session and its CSRF token. Errors: 401 `unauthenticated`.
    #[oai(path = "/session", method = "get", operation_id = "getSession")]
    async fn session(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
    ) -> Result<SessionResponse, ApiError> {
        let current = auth.current;
        Ok(SessionResponse::Ok(Json(SessionBody {
            user: (&current.account).into(),
            csrf_token: state.auth.csrf_token(&current.session.id),
            session: (&current.session).into(),
        })))
    }

    /// Get the CSRF token
    ///
    /// The token to send as `X-CSRF-Token` on state-changing requests authenticated by the
    /// cookie. Errors: 401 `unauthenticated`.
    #[oai(path = "/csrf", method = "get", operation_id = "getCsrfToken")]
    async fn csrf(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
    ) -> Result<CsrfResponse, ApiError> {
        Ok(CsrfResponse::Ok(Json(CsrfBody {
            csrf_token: state.auth.csrf_token(&auth.current.session.id),
        })))
    }

    /// Sign out
    ///
    /// Revokes the session in the database and clears the cookie; a copy of the old cookie or
    /// token is refused afterwards. Errors: 401 `unauthenticated`; 403 `csrf_invalid` (cookie
    /// authentication without the right `X-CSRF-Token`).
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<LogoutResponse, ApiError> {
        state.auth.sign_out(auth.current.session.id).await?;
        Ok(LogoutResponse::SignedOut(state.cookie.clear()))
    }
}
