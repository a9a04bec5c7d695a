//! Which apps may use the provider, and how an app proves who it is. Apps come from
//! `[[oidc.clients]]` (checked, their secrets read and MACed at start-up) and from
//! `siwe-server clients` (the database, read on each request so the CLI works while the server
//! runs). An id in both is refused at start.

use std::collections::HashMap;

use anyhow::Context;
use subtle::ConstantTimeEq;

use super::Oidc;
use crate::{
    config::{read_secret_file, ClientSecret, ClientSettings, Oidc as OidcConfig},
    db,
    domain::{
        oidc::client::{Client, ClientSpec},
        token::{Keys, OidcSecret},
    },
    error::{AppError, AppResult, ErrorCode},
};

/// How a client authenticated at the token, revocation or introspection endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// `Authorization: Basic` (client_secret_basic).
    Basic,
    /// `client_id` and `client_secret` in the form (client_secret_post).
    Post,
    /// Only `client_id`: public clients.
    None,
}

/// What a request presented to identify its client.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    /// An empty secret counts as none.
    pub secret: Option<String>,
    pub method: ClientAuthMethod,
}

impl Oidc {
    /// The app with this id: configured ones first, then those added with the CLI.
    pub async fn client(&self, id: &str) -> AppResult<Option<Client>> {
        if let Some(client) = self.configured.get(id) {
            return Ok(Some(client.clone()));
        }
        self.db().read(|conn| db::oidc::find_client(conn, id))
    }

    /// The client the credentials prove, or `invalid_client`: an unknown id, a confidential
    /// client without its secret or with a wrong one, a public client presenting a secret.
    pub async fn authenticate_client(&self, credentials: ClientCredentials) -> AppResult<Client> {
        let refused = |message: &'static str| AppError::new(ErrorCode::InvalidClient, message);
        let id = credentials
            .client_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| refused("The client is not identified (client_id)."))?;
        let client = self
            .client(&id)
            .await?
            .ok_or_else(|| refused("The client is unknown."))?;
        let secret = credentials.secret.filter(|s| !s.is_empty());
        match (&client.secret_mac, secret) {
            (None, None) => Ok(client),
            (None, Some(_)) => Err(refused("A public client has no secret.")),
            (Some(_), None) => Err(refused("This client must authenticate with its secret.")),
            (Some(expected), Some(secret)) => {
                let presented = secret_mac(self.keys(), &client.id, &secret);
                if bool::from(presented.ct_eq(expected)) {
                    Ok(client)
                } else {
                    Err(refused("The client secret is wrong."))
                }
            }
        }
    }
}

/// What is stored and compared for a client's secret.
pub fn secret_mac(keys: &Keys, client_id: &str, secret: &str) -> [u8; 32] {
    keys.oidc_mac(OidcSecret::ClientSecret, client_id, secret)
}

/// The fields of a client's settings, for the domain's rules.
pub fn spec_of(settings: &ClientSettings) -> ClientSpec {
    ClientSpec {
        id: settings.id.clone(),
        name: settings.name.clone(),
        redirect_uris: settings.redirect_uris.clone(),
        post_logout_redirect_uris: settings.post_logout_redirect_uris.clone(),
        scopes: settings.scopes.clone(),
        trusted: settings.trusted,
        subject: settings.subject.clone(),
        id_token_alg: settings.id_token_alg.clone(),
    }
}

/// What `siwe-server check` says of the clients: those of the database (at `db_path`, read
/// without writing) and those of the configuration, checked as at start-up.
pub fn check(config: &OidcConfig, db_path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let stored = if db_path.exists() {
        db::oidc::stored_client_ids(db_path)?
    } else {
        Vec::new()
    };
    // The MACs are thrown away: only the rules, the secret files and the ids matter here.
    let configured = configured_clients(config, &Keys::from_secret(b"siwe-server check"), &stored)?;
    Ok(vec![
        format!(
            "{} OpenID Connect client(s) in the database {stored:?}",
            stored.len()
        ),
        format!(
            "{} OpenID Connect client(s) in the configuration",
            configured.len()
        ),
    ])
}

/// The clients of `[[oidc.clients]]`, checked, with their secrets (files read) as MACs; an
/// error names the key. `stored_ids`: clients of the database, whose ids config may not reuse.
pub fn configured_clients(
    config: &OidcConfig,
    keys: &Keys,
    stored_ids: &[String],
) -> anyhow::Result<HashMap<String, Client>> {
    let mut clients = HashMap::new();
    for (index, configured) in config.clients.iter().enumerate() {
        let settings = &configured.settings;
        let key = format!("oidc.clients[{index}] ({:?})", settings.id);
        if stored_ids.contains(&settings.id) {
            anyhow::bail!(
                "{key}: the database has a client with this id too (siwe-server clients \
                 remove it, or rename one)"
            );
        }
        let secret_mac = match &configured.secret {
            ClientSecret::None => None,
            ClientSecret::Value(secret) => Some(secret_mac(keys, &settings.id, secret.expose())),
            ClientSecret::File(path) => {
                let secret =
                    read_secret_file(path).with_context(|| format!("{key}.secret_file"))?;
                Some(secret_mac(keys, &settings.id, secret.expose()))
            }
        };
        let client = spec_of(settings)
            .check(secret_mac)
            .map_err(|e| anyhow::anyhow!("{key}.{e}"))?;
        clients.insert(client.id.clone(), client);
    }
    Ok(clients)
}
