//! HTTP: translates requests into service calls and results into responses.

mod account;
mod apps;
mod auth;
pub mod cookie;
pub mod dto;
pub mod error;
mod forward;
mod health;
mod link_page;
mod oidc;
pub mod pages;
mod pairing;
mod reauth;
pub mod security;
pub mod ui;
mod wallets;

use std::sync::{Arc, LazyLock};

use poem_openapi::{OpenApiService, Tags};

use crate::{
    http::{ClientAddress, ClientIpResolver},
    service::{ClientInfo, Service},
};
pub use cookie::SessionCookie;

/// What every handler can reach.
pub struct AppState {
    pub service: Arc<Service>,
    /// The OpenID Connect provider.
    pub oidc: Arc<crate::oidc::Oidc>,
    /// Sign-in from another device.
    pub pairings: Arc<crate::pairing::Pairings>,
    pub cookie: SessionCookie,
    /// Which proxies are trusted, for the URL a proxy says it was asked for (forward-auth).
    pub client_ip: ClientIpResolver,
    pub ui: dto::UiConfigBody,
    /// The pages' words in every language.
    pub catalogues: crate::i18n::Catalogues,
    /// Forward-auth's rules and return origins; replaced on SIGHUP.
    pub forward: arc_swap::ArcSwap<crate::domain::forward_auth::ForwardAuthPolicy>,
    /// The origin of public_url, without trailing slash.
    pub public_origin: String,
}

#[derive(Tags)]
pub enum ApiTags {
    /// Sign-In with Ethereum and sessions.
    Auth,
    /// The wallets linked to the signed-in account.
    Wallets,
    /// The signed-in account: profile, email, security events.
    Account,
    /// Liveness and readiness.
    Health,
    /// What the built-in pages use.
    Ui,
    /// The OpenID Connect provider (OpenID Connect Core 1.0, OAuth 2.0).
    OpenIdConnect,
    /// Sign in on one device with a wallet on another (a phone).
    Pairing,
}

pub type Api = (
    auth::AuthApi,
    reauth::ReauthApi,
    forward::ForwardApi,
    wallets::WalletsApi,
    account::AccountApi,
    apps::AppsApi,
    ui::UiApi,
    health::HealthApi,
    oidc::discovery::DiscoveryApi,
    oidc::authorize::AuthorizeApi,
    oidc::logout::LogoutApi,
    oidc::token::TokenApi,
    oidc::userinfo::UserInfoApi,
    pairing::PairingApi,
);

/// The OpenAPI service; its document does not depend on configuration, so the committed
/// `openapi/openapi.json` matches every deployment.
pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            reauth::ReauthApi,
            forward::ForwardApi,
            wallets::WalletsApi,
            account::AccountApi,
            apps::AppsApi,
            ui::UiApi,
            health::HealthApi,
            oidc::discovery::DiscoveryApi,
            oidc::authorize::AuthorizeApi,
            oidc::logout::LogoutApi,
            oidc::token::TokenApi,
            oidc::userinfo::UserInfoApi,
            pairing::PairingApi,
        ),
        "siwe-server",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Sign-In with Ethereum (EIP-4361): nonces, verification, accounts and sessions. \
         Errors are JSON `{\"error\": \"<code>\", \"message\": \"<sentence>\"}`.",
    )
    .license("MIT OR Apache-2.0")
}

/// The spec as pretty JSON with a trailing newline, exactly as served and committed; made
/// once (start-up needs it twice: for `/openapi.json` and for the methods of each path).
pub fn spec_json() -> &'static str {
    static SPEC: LazyLock<String> = LazyLock::new(|| {
        let mut json = service().spec();
        json.push('\n');
        json
    });
    &SPEC
}

/// Where a request came from, for sessions and security events.
pub fn client_info(req: &poem::Request) -> ClientInfo {
    ClientInfo {
        ip: Some(ClientAddress::of(req).ip.to_string()),
        user_agent: req
            .header(poem::http::header::USER_AGENT)
            .map(ToString::to_string),
    }
}

/// Whether another site sent this request: its browser says so (`Sec-Fetch-Site`), or its
/// `Origin` is not this server's (a browser then withholds a SameSite cookie; forms that change
/// something refuse it).
pub fn cross_site(state: &AppState, req: &poem::Request) -> bool {
    let fetch_site = req
        .header("sec-fetch-site")
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    let foreign_origin = req
        .header(poem::http::header::ORIGIN)
        .is_some_and(|origin| origin != state.public_origin);
    fetch_site || foreign_origin
}
