//! The OpenID Connect provider (OpenID Connect Core 1.0, OAuth 2.0, PKCE): which apps may ask,
//! authorization requests and consent, codes, tokens, userinfo, revocation, introspection and
//! logout. It signs people in through the service's sessions and never re-implements them;
//! it knows nothing of HTTP (`api/oidc/` translates). One file per step of the protocol.

pub mod apps;
pub mod authorize;
pub mod client_admin;
mod client_rate_limit;
pub mod clients;
pub mod introspect;
pub mod logout;
mod refresh;
pub mod token;
pub mod userinfo;

use std::{collections::HashMap, sync::Arc};

use crate::{
    clock::Clock,
    config::Oidc as OidcConfig,
    db::Db,
    domain::{oidc::client::Client, token::Keys},
    keys::JwtKeys,
    service::Service,
};

/// The provider, shared by all requests.
pub struct Oidc {
    service: Arc<Service>,
    /// `server.public_url` exactly: the `iss` of every token and the discovery document.
    issuer: String,
    config: OidcConfig,
    /// The clients of `[[oidc.clients]]`, checked (see `clients.rs`).
    configured: HashMap<String, Client>,
    /// The token endpoint's limit per client id (off until set).
    client_rate_limit: client_rate_limit::ClientRateLimit,
}

impl Oidc {
    /// Fails when a configured client breaks a rule, its secret file cannot be read, or the
    /// database has a client with its id.
    pub fn new(service: Arc<Service>, issuer: String, config: OidcConfig) -> anyhow::Result<Self> {
        let stored: Vec<String> = service
            .db()
            .read(crate::db::oidc::list_clients)?
            .into_iter()
            .map(|client| client.id)
            .collect();
        let configured = clients::configured_clients(&config, service.mac_keys(), &stored)?;
        Ok(Self {
            service,
            issuer,
            config,
            configured,
            client_rate_limit: client_rate_limit::ClientRateLimit::new(0, 0),
        })
    }

    /// Limits token requests per client id by the `auth` policy's numbers.
    pub fn with_client_rate_limit(mut self, limits: &crate::config::RateLimitSettings) -> Self {
        self.client_rate_limit =
            client_rate_limit::ClientRateLimit::new(limits.auth_per_minute, limits.auth_burst);
        self
    }

    /// The per-client limit's new numbers (a reload of `rate_limit.auth_*`).
    pub fn reload_client_rate_limit(&self, limits: &crate::config::RateLimitSettings) {
        self.client_rate_limit
            .reload(limits.auth_per_minute, limits.auth_burst);
    }

    /// The issuer identifier (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    pub fn db(&self) -> &Db {
        self.service.db()
    }

    pub fn clock(&self) -> &Clock {
        self.service.clock()
    }

    pub fn keys(&self) -> &Keys {
        self.service.mac_keys()
    }

    pub fn jwt(&self) -> &JwtKeys {
        self.service.jwt_keys()
    }
}
