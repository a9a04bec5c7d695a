//! /api/auth/forward: forward-auth for nginx `auth_request`, Caddy `forward_auth` and Traefik
//! `forwardAuth`.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use poem::{web::Data, Request};
use poem_openapi::{param::Query, payload::Json, ApiResponse, OpenApi};

use super::{
    security::{self, SessionAuth},
    ApiTags, AppState,
};
use crate::{
    domain::forward_auth::{Access, ProtectedHost},
    error::{AppError, ErrorCode},
    http::error::ErrorBody,
};

pub struct ForwardApi;

#[derive(ApiResponse)]
pub enum ForwardResponse {
    /// Signed in and allowed. The identity headers are for the proxy to pass upstream.
    #[oai(status = 200)]
    Allowed(
        /// The account id.
        #[oai(header = "X-Auth-User-Id")]
        String,
        /// The wallet of this session (EIP-55).
        #[oai(header = "X-Auth-Address")]
        String,
        /// All the account's wallets, comma-separated.
        #[oai(header = "X-Auth-Wallets")]
        String,
    ),
    /// Not signed in, from a browser, and the proxy passed the original URL: to the login page,
    /// with `next=` back when the original origin is allowed (Caddy, Traefik).
    #[oai(status = 302)]
    ToLogin(#[oai(header = "Location")] String),
    /// The query is malformed (`invalid_request`), e.g. `redirect` is not true or false.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Not signed in (`unauthenticated`). `X-Auth-Login-Url` is where to send a browser (for
    /// nginx, which cannot pass a 302 through: `auth_request_set` + `error_page 401`).
    #[oai(status = 401)]
    Unauthenticated(
        Json<ErrorBody>,
        #[oai(header = "X-Auth-Login-Url")] Option<String>,
    ),
    /// Signed in, but this wallet is not on the protected host's list, or rules exist and the
    /// protected host is not known: the peer is not in `server.trusted_proxies` or its headers
    /// do not name exactly one host (`access_denied`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The server failed (`internal`).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

fn body(err: &AppError) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: err.code(),
        message: err.public_message().to_string(),
    })
}

#[OpenApi(prefix_path = "/api/auth", tag = "ApiTags::Auth")]
impl ForwardApi {
    /// Forward-auth check for reverse proxies
    ///
    /// 200 with `X-Auth-User-Id`, `X-Auth-Address` and `X-Auth-Wallets` when the cookie or
    /// bearer token is valid (and, with `[[forward_auth.rules]]`, the wallet may reach the
    /// protected host); otherwise 401, or 302 to the login page for browsers when the proxy
    /// passes the original URL (`X-Original-URL`, else `X-Forwarded-Proto`/`-Host`/`-Uri`;
    /// believed only from `server.trusted_proxies`). A request that carries the session cookie
    /// more than once is not signed in (a proxy that strips the cookie before the app removes
    /// one copy). Answers HEAD too. Not rate limited: the proxy asks once per request it serves.
    #[oai(path = "/forward", method = "get", operation_id = "forwardAuth")]
    async fn forward(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// `false` never answers 302 (nginx `auth_request` turns a 302 into a 500).
        redirect: Query<Option<bool>>,
    ) -> ForwardResponse {
        decide(&state, req, redirect.0).await
    }

    /// Forward-auth check for reverse proxies (HEAD)
    ///
    /// The same as GET, without a body.
    #[oai(path = "/forward", method = "head", operation_id = "forwardAuthHead")]
    async fn forward_head(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// `false` never answers 302.
        redirect: Query<Option<bool>>,
    ) -> ForwardResponse {
        decide(&state, req, redirect.0).await
    }
}

async fn decide(state: &AppState, req: &Request, redirect: Option<bool>) -> ForwardResponse {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let original = state.client_ip.original_url(peer, req.headers());
    // A proxy's rule that strips the session cookie before the app removes one copy: with two,
    // the second would reach the app, so such a request is not signed in.
    let auth = if security::cookie_count(req, state.cookie.name()) > 1 {
        Err(AppError::unauthenticated())
    } else {
        SessionAuth::from_request(req).await
    };
    match auth {
        Ok(auth) => {
            let current = auth.current;
            let address = current.session.address.to_string();
            let host = original.as_ref().and_then(ProtectedHost::of_url);
            let refusal = match state.forward.load().access(host.as_ref(), &address) {
                Access::Allowed => None,
                Access::NotListed => {
                    Some("This wallet may not use this site. Sign in with another wallet.")
                }
                Access::HostUnknown => Some(
                    "The site behind the proxy could not be determined, so access is refused: \
                     the proxy must be in server.trusted_proxies and name the site in \
                     X-Original-URL or X-Forwarded-Host.",
                ),
            };
            if let Some(message) = refusal {
                tracing::debug!(host = ?host.map(|h| h.to_string()), "forward-auth denied");
                return ForwardResponse::Forbidden(body(&AppError::new(
                    ErrorCode::AccessDenied,
                    message,
                )));
            }
            let wallets: Vec<String> = current
                .account
                .wallets
                .iter()
                .map(|w| w.address.to_string())
                .collect();
            ForwardResponse::Allowed(
                current.account.user.id.to_string(),
                address,
                wallets.join(","),
            )
        }
        Err(err @ AppError::Client { .. }) => {
            let wants_html = req
                .header("accept")
                .is_some_and(|a| a.contains("text/html"));
            let login = (wants_html && original.is_some()).then(|| {
                state
                    .forward
                    .load()
                    .login_url(&state.public_origin, original.as_ref())
            });
            match login {
                Some(location) if redirect != Some(false) => ForwardResponse::ToLogin(location),
                login => {
                    ForwardResponse::Unauthenticated(body(&AppError::unauthenticated()), login)
                }
            }
            .tap_err(&err)
        }
        Err(err) => {
            tracing::error!(error = %err, "forward-auth check failed");
            ForwardResponse::Internal(body(&err))
        }
    }
}

trait TapErr {
    fn tap_err(self, err: &AppError) -> Self;
}

impl TapErr for ForwardResponse {
    /// Logs why a forward-auth check did not pass, at debug level (proxies ask constantly).
    fn tap_err(self, err: &AppError) -> Self {
        tracing::debug!(reason = err.code().as_str(), "forward-auth refused");
        self
    }
}
