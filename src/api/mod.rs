//! HTTP: translates requests into service calls and results into responses.

mod auth;
pub mod cookie;
pub mod dto;
pub mod error;
mod health;
pub mod security;

use std::sync::Arc;

use poem_openapi::{OpenApiService, Tags};

use crate::{http::HttpPolicy, service::AuthService};
pub use cookie::SessionCookie;

/// What every handler can reach.
pub struct AppState {
    pub auth: Arc<AuthService>,
    pub cookie: SessionCookie,
    pub http: HttpPolicy,
}

#[derive(Tags)]
pub enum ApiTags {
    /// Sign-In with Ethereum and sessions.
    Auth,
    /// Liveness and readiness.
    Health,
}

pub type Api = (auth::AuthApi, health::HealthApi);

/// The OpenAPI service; its document does not depend on configuration, so the committed
/// `openapi/openapi.json` matches every deployment.
pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(
        (auth::AuthApi, health::HealthApi),
        "siwe-server",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Sign-In with Ethereum (EIP-4361): nonces, verification, accounts and sessions. \
         Errors are JSON `{\"error\": \"<code>\", \"message\": \"<sentence>\"}`.",
    )
    .license("MIT OR Apache-2.0")
}

/// The spec as pretty JSON with a trailing newline, exactly as served and committed.
pub fn spec_json() -> String {
    let mut json = service().spec();
    json.push('\n');
    json
}
