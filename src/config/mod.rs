//! Settings: defaults -> config.toml -> `SIWE_<SECTION>__<KEY>` environment variables, validated once.
//! One file per section (its struct, defaults and `validate()`); this file layers and loads them.

mod audit;
mod backup;
mod chains;
mod cors;
mod database;
mod email;
mod ens;
mod forward_auth;
mod log;
mod metrics;
mod oidc;
mod pairing;
mod rate_limit;
#[cfg(test)]
mod reference;
mod secret;
mod security;
mod server;
mod session;
mod siwe;
mod tokens;
mod ui;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};
use url::Url;

pub use self::{
    audit::{Audit, AuditSettings},
    backup::{Backup, BackupSettings},
    chains::{ChainRpc, ChainSettings, ChainsSettings, OneOrMany},
    cors::{Cors, CorsSettings},
    database::{Database, DatabaseSettings},
    email::{Email, EmailSettings, Smtp, SmtpTls},
    ens::{Ens, EnsSettings},
    forward_auth::{ForwardAuth, ForwardAuthRule, ForwardAuthSettings},
    log::{LogFormat, LogSettings},
    metrics::{Metrics, MetricsSettings},
    oidc::{read_secret_file, ClientSecret, ClientSettings, Oidc, OidcClient, OidcSettings},
    pairing::{Pairing, PairingSettings},
    rate_limit::RateLimitSettings,
    secret::Secret,
    security::SecuritySettings,
    server::{Server, ServerSettings},
    session::{SameSite, SecureCookie, Session, SessionSettings},
    siwe::{Siwe, SiweSettings},
    tokens::{TokenSettings, Tokens},
    ui::UiSettings,
};

/// The environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "SIWE_CONFIG";
const ENV_PREFIX: &str = "SIWE_";

/// What the config file and the environment say, section by section (the file's shape; tests
/// build it in code). [`Settings::validate`] turns it into a [`Config`].
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub backup: BackupSettings,
    pub siwe: SiweSettings,
    pub chains: ChainsSettings,
    pub ens: EnsSettings,
    pub session: SessionSettings,
    pub security: SecuritySettings,
    pub rate_limit: RateLimitSettings,
    pub cors: CorsSettings,
    pub email: EmailSettings,
    pub audit: AuditSettings,
    pub ui: UiSettings,
    pub forward_auth: ForwardAuthSettings,
    pub tokens: TokenSettings,
    pub oidc: OidcSettings,
    pub pairing: PairingSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
}

/// The settings checked and parsed once: each section typed (addresses, URLs, origins,
/// durations), so no reader parses a string again. Start-up sees all of it and hands each part
/// only the section it needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    /// Scheduled backups, when `backup.dir` is set.
    pub backup: Option<Backup>,
    pub siwe: Siwe,
    /// Chains with at least one RPC endpoint.
    pub chains: Vec<ChainRpc>,
    pub ens: Ens,
    pub session: Session,
    pub security: SecuritySettings,
    pub rate_limit: RateLimitSettings,
    pub cors: Cors,
    pub email: Email,
    pub audit: Audit,
    pub ui: UiSettings,
    pub forward_auth: ForwardAuth,
    pub tokens: Tokens,
    pub oidc: Oidc,
    pub pairing: Pairing,
    pub metrics: Metrics,
    pub log: LogSettings,
}

impl Config {
    /// Origins allowed to make credentialed requests: the server's own, then `cors.allowed_origins`.
    pub fn trusted_origins(&self) -> Vec<String> {
        let mut origins = vec![self.server.public_origin.clone()];
        origins.extend(self.cors.allowed_origins.iter().cloned());
        origins
    }

    /// The longest a JWT this server signs lives (`tokens.ttl`, OpenID Connect's ID and access
    /// tokens): retired signing keys stay published this long.
    pub fn longest_jwt_ttl(&self) -> std::time::Duration {
        self.tokens.ttl.max(self.oidc.longest_jwt_ttl())
    }

    /// Origins the login page may send people to after sign-in: CORS origins and forward-auth
    /// origins.
    pub fn return_origins(&self) -> Vec<String> {
        let mut origins = self.cors.allowed_origins.clone();
        for origin in &self.forward_auth.origins {
            if !origins.contains(origin) {
                origins.push(origin.clone());
            }
        }
        origins
    }
}

/// Settings plus what loading them noticed (written to the log once logging is set up).
pub struct Loaded {
    pub settings: Settings,
    /// `settings`, checked.
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Settings {
    /// Loads defaults, then the config file (if given or named by SIWE_CONFIG), then SIWE_* variables.
    pub fn load(config_path: Option<&Path>) -> anyhow::Result<Loaded> {
        let env_path = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
        let path = config_path.map(Path::to_path_buf).or(env_path);
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = &path {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let known = known_keys();
        let mut warnings = Vec::new();
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if name == CONFIG_ENV {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if !is_setting(&known, &key) {
                warnings.push(format!(
                    "ignoring environment variable {name}: there is no setting `{key}` \
                     (variables look like SIWE_SECTION__KEY, e.g. SIWE_SERVER__BIND)"
                ));
            }
        }
        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .filter(move |key| is_setting(&known, &key.as_str().to_ascii_lowercase()));
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| anyhow::anyhow!(describe_figment_error(e)))?;
        let config = settings.validate()?;
        Ok(Loaded {
            settings,
            config,
            warnings,
        })
    }

    /// Checks everything config can check without touching the disk or network, section by
    /// section, and returns the typed sections. (What only the domain can judge, such as
    /// forward-auth rule hosts, start-up checks as it builds the domain's policies.)
    pub fn validate(&self) -> anyhow::Result<Config> {
        let server = self.server.validate()?;
        let siwe = self.siwe.validate()?;
        let chains = chains::validate(&self.chains)?;
        let ens = self.ens.validate()?;
        let session = self.session.validate(&server.public_url)?;
        self.security.validate()?;
        let cors = self.cors.validate(&server.public_origin)?;
        self.rate_limit.validate()?;
        let email = self.email.validate()?;
        let forward_auth = self.forward_auth.validate()?;
        let metrics = self.metrics.validate()?;
        let tokens = self.tokens.validate(&server.public_origin)?;
        let oidc = self.oidc.validate()?;
        let pairing = self.pairing.validate()?;
        self.ui.validate()?;
        let audit = self.audit.validate()?;
        let database = self.database.validate()?;
        let backup = self.backup.validate()?;
        if self.rate_limit.shared && database.url.is_none() {
            bail!("rate_limit.shared counts in PostgreSQL: it needs database.url");
        }
        if database.url.is_some() && backup.is_some() {
            bail!("[backup] copies the SQLite file; with database.url, back up PostgreSQL with its own tools (pg_dump)");
        }
        self.log.validate()?;
        Ok(Config {
            server,
            database,
            backup,
            siwe,
            chains,
            ens,
            session,
            security: self.security.clone(),
            rate_limit: self.rate_limit.clone(),
            cors,
            email,
            audit,
            ui: self.ui.clone(),
            forward_auth,
            tokens,
            oidc,
            pairing,
            metrics,
            log: self.log.clone(),
        })
    }
}

/// The ASCII serialisation of an origin (`https://app.example.org`), from a URL without path.
fn parse_origin(text: &str) -> anyhow::Result<String> {
    let url = Url::parse(text).context("not a URL such as https://app.example.org")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("must be an http or https origin");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        bail!("must be an origin only (no path)");
    }
    Ok(url.origin().ascii_serialization())
}

/// Every dotted key a setting can have, read off the defaults (None values included).
fn known_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if let Ok(value) = serde_json::to_value(Settings::default()) {
        each_key("", &value, &mut |key, _| {
            keys.insert(key.to_string());
        });
    }
    keys
}

/// Calls `visit` with every dotted key of a settings value and its value, sections included.
fn each_key(
    prefix: &str,
    value: &serde_json::Value,
    visit: &mut impl FnMut(&str, &serde_json::Value),
) {
    if let serde_json::Value::Object(map) = value {
        for (key, child) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            each_key(&path, child, visit);
            visit(&path, child);
        }
    }
}

impl Settings {
    /// The dotted keys (`server.bind`, `forward_auth.rules`: a list is one key) whose values
    /// differ between `self` and `other`, sorted. Values are compared, never shown.
    pub fn changed_keys(&self, other: &Settings) -> Vec<String> {
        let leaves = |settings: &Settings| {
            let mut leaves = std::collections::BTreeMap::new();
            if let Ok(value) = serde_json::to_value(settings) {
                each_key("", &value, &mut |key, value| {
                    if !value.is_object() {
                        leaves.insert(key.to_string(), value.clone());
                    }
                });
            }
            leaves
        };
        let (before, after) = (leaves(self), leaves(other));
        let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        keys.into_iter()
            .filter(|key| before.get(*key) != after.get(*key))
            .cloned()
            .collect()
    }
}

/// Whether a dotted key names a setting: one of `known`, or a key of one chain's table
/// (`chains.<id>.rpc_url`), whose ids no default can list.
fn is_setting(known: &BTreeSet<String>, key: &str) -> bool {
    known.contains(key) || chains::is_chain_key(key)
}

fn describe_figment_error(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("invalid configuration: {key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests;
