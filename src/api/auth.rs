//! /api/auth: nonce, verify, session, csrf, logout. Longer than 400 lines because each
//! operation's doc comment is its published OpenAPI description, listing every error code.

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path, Query},
    payload::{Form, Json},
    ApiResponse, OpenApi,
};

use super::{
    client_info,
    dto::{
        ChallengeResponse, CsrfBody, EmailSentBody, NonceBody, Session, SessionBody, SessionInfo,
        SignInBody, SignInChallengeRequest, TokenBody, TokenRequest, VerifyRequest,
    },
    error::ApiError,
    link_page::{self, LinkError, LinkForm, LinkPageResponse},
    security::SessionAuth,
    ApiTags, AppState,
};
use crate::{
    clock::from_unix_ms,
    domain::email_link::EmailLinkKind,
    domain::id::SessionId,
    service::{SignIn, SignInOutcome, SignInRequest},
};

pub struct AuthApi;

#[derive(ApiResponse)]
pub enum NonceResponse {
    /// A fresh single-use nonce.
    #[oai(status = 200)]
    Ok(Json<NonceBody>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
#[allow(clippy::large_enum_variant)]
pub enum VerifyResponse {
    /// Signed in. The session cookie is set and the token returned for bearer use.
    #[oai(status = 200)]
    Ok(Json<SignInBody>, #[oai(header = "Set-Cookie")] String),
    /// Not signed in: the message asked to add this wallet to the account that has verified
    /// `email` (see `POST /api/auth/challenge`); if such an account exists, a single-use link
    /// that does it was mailed to that address (`email_verification_sent`). The answer is the
    /// same either way.
    #[oai(status = 202)]
    EmailSent(Json<EmailSentBody>),
}

#[derive(ApiResponse)]
pub enum EmailLinkResponse {
    /// The wallet is linked and the browser signed in; it is sent to the start page.
    #[oai(status = 303)]
    SignedIn(
        #[oai(header = "Location")] String,
        #[oai(header = "Set-Cookie")] String,
    ),
}

#[derive(ApiResponse)]
pub enum TokenResponse {
    /// A signed, short-lived JWT.
    #[oai(status = 200)]
    Ok(Json<TokenBody>),
}

#[derive(ApiResponse)]
pub enum SessionsResponse {
    /// The account's active sessions, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<SessionInfo>>),
}

#[derive(ApiResponse)]
pub enum SessionsEndedResponse {
    /// Ended. When the current session ended too, its cookie is cleared.
    #[oai(status = 204)]
    Ended(#[oai(header = "Set-Cookie")] Option<String>),
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

pub(super) fn sign_in_body(signed_in: SignIn) -> SignInBody {
    SignInBody {
        user: (&signed_in.account).into(),
        session: Session::new(&signed_in.session, &signed_in.account),
        csrf_token: signed_in.csrf_token,
        created: signed_in.created,
        token: signed_in.token,
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
        let issued = state.service.issue_nonce().await?;
        Ok(NonceResponse::Ok(Json(issued.into()), "no-store".into()))
    }

    /// Get a sign-in message to sign
    ///
    /// For wallets that can only sign text: the complete EIP-4361 sign-in message for `address`,
    /// with a fresh nonce. Sign it anywhere (personal_sign) and POST it with the signature to
    /// /api/auth/verify. With `email` (only when the server has `email.wallet_attach` on): the
    /// message asks to add the wallet to the account that has verified that email ("Add this
    /// wallet to the account with email ... on ..."), its nonce bound to both; verify it with
    /// the same `email` and a link is mailed to that address (202), whose page adds the wallet.
    /// A sign-in message never does that. Errors: 400 `invalid_address`, `invalid_request`
    /// (`email` not valid, or attaching by email is off); 401 `chain_not_allowed`; 429
    /// `rate_limited`.
    #[oai(
        path = "/challenge",
        method = "post",
        operation_id = "createSignInChallenge"
    )]
    async fn challenge(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<SignInChallengeRequest>,
    ) -> Result<ChallengeResponse, ApiError> {
        let challenge = match &body.email {
            Some(email) => {
                state
                    .service
                    .email_attach_challenge(&body.address, body.chain_id, email)
                    .await?
            }
            None => {
                state
                    .service
                    .sign_in_challenge(&body.address, body.chain_id)
                    .await?
            }
        };
        Ok(ChallengeResponse::Ok(Json(challenge.into())))
    }

    /// Sign in with a signed message
    ///
    /// Verifies an EIP-4361 message and its signature and spends its nonce. Then: with
    /// `link: true` and a valid session, the wallet is attached to the signed-in account (the
    /// message must be this account's link challenge for the wallet, from POST
    /// /api/wallets/challenge; a sign-in message is refused with `invalid_nonce`, unspent);
    /// else a wallet linked to an account signs in to it; else an account is created (with
    /// `email`, if given, pending until verified). Opens a session (cookie and bearer token).
    /// Errors: 400 `invalid_request`, `invalid_message`, `invalid_signature_format`; 401
    /// `invalid_nonce` (unknown, expired, used, or issued for something else),
    /// `invalid_signature` (nothing is spent by these, unless a wallet contract was asked:
    /// see below), `domain_mismatch`, `uri_mismatch`,
    /// `chain_not_allowed`, `message_expired`, `message_not_yet_valid`, `issued_at_invalid`
    /// (signed by its address: the nonce is spent), `unauthenticated` (`link` without a
    /// session); 403 `csrf_invalid`, `origin_not_allowed` (`link` with the cookie),
    /// `reauthentication_required` (`link` from a session without a recent signature; the
    /// nonce is not spent); 409 `wallet_already_linked`, `wallet_already_yours`; 413
    /// `payload_too_large`; 429 `rate_limited`; 503 `email_unavailable`. A signature that is
    /// not the address's key's (a smart-contract wallet's, EIP-1271, or one wrapped for a
    /// wallet not deployed yet, EIP-6492) is checked on the message's chain when `[chains]`
    /// has an endpoint for it, with its nonce spent first: 401 `invalid_signature` if the
    /// contract refuses, 503 `chain_unavailable` (with `Retry-After`) if no endpoint answered;
    /// without an endpoint, 401 `contract_wallet_unsupported` (spent) unless it is 65 bytes.
    #[oai(path = "/verify", method = "post", operation_id = "verify")]
    async fn verify(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<VerifyRequest>,
    ) -> Result<VerifyResponse, ApiError> {
        let VerifyRequest {
            message,
            signature,
            link,
            email,
        } = body.0;
        let link_to = match link {
            Some(true) => Some(SessionAuth::from_request(req).await?.current),
            _ => None,
        };
        let outcome = state
            .service
            .sign_in(SignInRequest {
                message: message.into(),
                signature: signature.into(),
                link_to,
                email: email.map(String::from),
                client: client_info(req),
            })
            .await?;
        Ok(match outcome {
            SignInOutcome::SignedIn(signed_in) => {
                let cookie = state.cookie.set(&signed_in.token);
                VerifyResponse::Ok(Json(sign_in_body(*signed_in)), cookie)
            }
            SignInOutcome::EmailLinkSent { email } => {
                VerifyResponse::EmailSent(Json(EmailSentBody {
                    status: "email_verification_sent".into(),
                    message: format!(
                        "If an account has confirmed {email}, we sent a link there: open it to \
                         add this wallet to that account and sign in."
                    ),
                }))
            }
        })
    }

    /// Show what an emailed wallet link does
    ///
    /// The link sent when a new wallet asked to join the account with this email address
    /// (`email.wallet_attach`) opens this page: it names the wallet and the account it will be
    /// added to, and has a button that does it (a form POST to this path). Opening it (GET or
    /// HEAD, as mail scanners do) changes nothing and does not spend the link. Errors (a page
    /// for browsers, JSON otherwise): 400 `invalid_token`.
    #[oai(path = "/email-link", method = "get", operation_id = "showEmailLink")]
    async fn email_link_page(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// The token from the emailed link.
        token: Query<String>,
    ) -> Result<LinkPageResponse, LinkError> {
        let kind = EmailLinkKind::AttachWallet;
        let preview = state
            .service
            .preview_email_link(&token.0, kind)
            .await
            .map_err(|e| LinkError::new(&state, req, e))?;
        Ok(link_page::page(
            &state,
            req,
            kind,
            "/api/auth/email-link",
            &token.0,
            &preview,
        ))
    }

    /// Add a wallet through an emailed link
    ///
    /// The form of the wallet link's page: attaches the wallet to the account, marks the email
    /// verified, mails the account's address a notice, signs the browser in and sends it to
    /// the start page. Only a POST from that page in the same browser works (the form carries
    /// a MAC of the page's cookie; a foreign `Origin` or `Sec-Fetch-Site: cross-site` is
    /// refused). Errors (a page for browsers, JSON otherwise): 400 `invalid_token`,
    /// `invalid_request`; 403 `csrf_invalid`, `origin_not_allowed`; 409
    /// `wallet_already_linked`.
    #[oai(path = "/email-link", method = "post", operation_id = "openEmailLink")]
    async fn email_link(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: Form<LinkForm>,
    ) -> Result<EmailLinkResponse, LinkError> {
        link_page::check_form_post(&state, req, &form)
            .map_err(|e| LinkError::new(&state, req, e))?;
        let signed_in = state
            .service
            .complete_email_link(form.0.token, client_info(req))
            .await
            .map_err(|e| LinkError::new(&state, req, e))?;
        Ok(EmailLinkResponse::SignedIn(
            "/?signed_in=1".into(),
            state.cookie.set(&signed_in.token),
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
            csrf_token: state.service.csrf_token(&current.session.id),
            session: Session::new(&current.session, &current.account),
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
            csrf_token: state.service.csrf_token(&auth.current.session.id),
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
        req: &Request,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<LogoutResponse, ApiError> {
        state
            .service
            .sign_out(&auth.current, client_info(req))
            .await?;
        Ok(LogoutResponse::SignedOut(state.cookie.clear()))
    }

    /// Get a short-lived token for another service
    ///
    /// A JWT (EdDSA, `tokens.ttl_secs`, 5 minutes by default) saying who is signed in, for
    /// APIs and sockets that trust this server: verify it with `/.well-known/jwks.json`, the
    /// issuer and your audience. Errors: 400 `invalid_audience`; 401 `unauthenticated`; 403
    /// `csrf_invalid`.
    #[oai(path = "/token", method = "post", operation_id = "issueToken")]
    async fn token(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: Json<TokenRequest>,
    ) -> Result<TokenResponse, ApiError> {
        let (token, expires_at) = state
            .service
            .issue_token(&auth.current, body.0.audience.map(String::from))?;
        Ok(TokenResponse::Ok(Json(TokenBody {
            token,
            expires_at: from_unix_ms(expires_at * 1000),
        })))
    }

    /// List sessions
    ///
    /// The account's active sessions with when and where they were used. Errors: 401
    /// `unauthenticated`.
    #[oai(path = "/sessions", method = "get", operation_id = "listSessions")]
    async fn sessions(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
    ) -> Result<SessionsResponse, ApiError> {
        let sessions = state.service.sessions(&auth.current).await?;
        let current = &auth.current.session.id;
        Ok(SessionsResponse::Ok(Json(
            sessions
                .iter()
                .map(|s| SessionInfo::new(s, current, &auth.current.account))
                .collect(),
        )))
    }

    /// End a session
    ///
    /// Errors: 401 `unauthenticated`; 403 `csrf_invalid`; 404 `session_not_found`.
    #[oai(path = "/sessions/:id", method = "delete", operation_id = "endSession")]
    async fn end_session(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// The session id.
        id: Path<String>,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<SessionsEndedResponse, ApiError> {
        let current = id.0 == auth.current.session.id.as_str();
        state
            .service
            .end_session(&auth.current, SessionId::new(id.0), client_info(req))
            .await?;
        Ok(SessionsEndedResponse::Ended(
            current.then(|| state.cookie.clear()),
        ))
    }

    /// Sign out everywhere
    ///
    /// Ends all the account's sessions, or all but this one with `keepCurrent=true`. Needs a
    /// recent signature. Errors: 401 `unauthenticated`; 403 `csrf_invalid`,
    /// `reauthentication_required`.
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// Keep the session making this request.
        #[oai(name = "keepCurrent")]
        keep_current: Query<Option<bool>>,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<SessionsEndedResponse, ApiError> {
        let keep = keep_current.0.unwrap_or(false);
        state
            .service
            .end_all_sessions(&auth.current, keep, client_info(req))
            .await?;
        Ok(SessionsEndedResponse::Ended(
            (!keep).then(|| state.cookie.clear()),
        ))
    }
}
