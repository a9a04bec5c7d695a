//! Settings: defaults -> config.toml -> `SIWE_<SECTION>__<KEY>` environment variables, validated once.
//! One file per section (its struct, defaults and `validate()`); this file layers and loads them.

mod audit;
mod cors;
mod database;
mod email;
mod forward_auth;
mod log;
mod metrics;
mod rate_limit;
mod secret;
mod security;
mod server;
mod session;
mod siwe;
mod tokens;
mod ui;

use std::{
    collections::BTreeSet,
    net::SocketAddr,
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
    audit::AuditSettings,
    cors::CorsSettings,
    database::DatabaseSettings,
    email::{EmailSettings, SmtpTls},
    forward_auth::{ForwardAuthRule, ForwardAuthSettings},
    log::{LogFormat, LogSettings},
    metrics::MetricsSettings,
    rate_limit::RateLimitSettings,
    secret::Secret,
    security::SecuritySettings,
    server::ServerSettings,
    session::{SameSite, SecureCookie, SessionSettings},
    siwe::SiweSettings,
    tokens::TokenSettings,
    ui::UiSettings,
};

/// The environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "SIWE_CONFIG";
const ENV_PREFIX: &str = "SIWE_";

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub siwe: SiweSettings,
    pub session: SessionSettings,
    pub security: SecuritySettings,
    pub rate_limit: RateLimitSettings,
    pub cors: CorsSettings,
    pub email: EmailSettings,
    pub audit: AuditSettings,
    pub ui: UiSettings,
    pub forward_auth: ForwardAuthSettings,
    pub tokens: TokenSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
}

/// Settings plus what loading them noticed (written to the log once logging is set up).
pub struct Loaded {
    pub settings: Settings,
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
            if !known.contains(&key) {
                warnings.push(format!(
                    "ignoring environment variable {name}: there is no setting `{key}` \
                     (variables look like SIWE_SECTION__KEY, e.g. SIWE_SERVER__BIND)"
                ));
            }
        }
        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .filter(move |key| known.contains(&key.as_str().to_ascii_lowercase()));
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| anyhow::anyhow!(describe_figment_error(e)))?;
        settings.validate()?;
        Ok(Loaded { settings, warnings })
    }

    /// Checks everything that can be checked without touching the disk or network.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.server.validate()?;
        let public = self.server.public_url()?;
        self.siwe.validate()?;
        self.session.validate(&public)?;
        self.security.validate()?;
        self.cors.validate()?;
        self.rate_limit.validate()?;
        self.email.validate()?;
        self.forward_auth.validate()?;
        self.metrics.validate()?;
        self.tokens.validate()?;
        self.ui.validate()?;
        self.audit.validate()?;
        self.database.validate()?;
        self.log.validate()?;
        Ok(())
    }

    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.bind_addr()
    }

    pub fn public_url(&self) -> anyhow::Result<Url> {
        self.server.public_url()
    }

    /// Origins allowed to make credentialed requests: public_url's plus `cors.allowed_origins`.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self
            .public_url()
            .map(|u| vec![u.origin().ascii_serialization()])
            .unwrap_or_default();
        for origin in &self.cors.allowed_origins {
            if let Ok(o) = parse_origin(origin) {
                if !origins.contains(&o) {
                    origins.push(o);
                }
            }
        }
        origins
    }

    /// Origins the login page may send people to after sign-in: CORS origins and forward-auth
    /// origins.
    pub fn return_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self.allowed_origins().into_iter().skip(1).collect();
        for origin in &self.forward_auth.origins {
            if let Ok(o) = parse_origin(origin) {
                if !origins.contains(&o) {
                    origins.push(o);
                }
            }
        }
        origins
    }

    pub fn forward_auth_policy(&self) -> crate::domain::forward_auth::ForwardAuthPolicy {
        use crate::domain::forward_auth::{ForwardAuthPolicy, HostRule, ProtectedHost};
        ForwardAuthPolicy {
            rules: self
                .forward_auth
                .rules
                .iter()
                .filter_map(|rule| {
                    Some(HostRule {
                        host: ProtectedHost::parse_rule(&rule.host)?,
                        addresses: rule
                            .addresses
                            .iter()
                            .filter_map(|a| crate::domain::siwe::parse_address(a).ok())
                            .collect(),
                    })
                })
                .collect(),
            return_origins: self.return_origins(),
        }
    }

    /// The per-address connection cap: `server.max_connections_per_ip`, else a quarter of
    /// `server.max_connections` (at least 1).
    pub fn max_connections_per_ip(&self) -> usize {
        self.server
            .max_connections_per_ip
            .unwrap_or((self.server.max_connections / 4).max(1))
    }

    pub fn trusted_proxies(&self) -> Vec<ipnet::IpNet> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|c| server::parse_cidr(c).ok())
            .collect()
    }

    /// Whether session cookies carry the Secure attribute.
    pub fn cookie_secure(&self) -> bool {
        self.public_url()
            .map(|url| self.session.cookie_secure_with(&url))
            .unwrap_or(false)
    }

    /// The folder for generated files (the secret key), next to the database.
    pub fn data_dir(&self) -> PathBuf {
        self.database.data_dir()
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
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = value {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                walk(&path, child, out);
                out.insert(path);
            }
        }
    }
    let mut keys = BTreeSet::new();
    if let Ok(value) = serde_json::to_value(Settings::default()) {
        walk("", &value, &mut keys);
    }
    keys
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
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn file_and_environment_layer_over_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "siwe.toml",
                r#"
                [server]
                public_url = "https://login.example.org"
                [siwe]
                chain_ids = [1, 10]
                "#,
            )?;
            jail.set_env("SIWE_SESSION__SAME_SITE", "none");
            jail.set_env("SIWE_SERVER__BIND", "127.0.0.1:9999");
            jail.set_env("SIWE_NOT__A_KEY", "x");
            let loaded = Settings::load(Some(Path::new("siwe.toml"))).map_err(|e| e.to_string())?;
            let s = loaded.settings;
            assert_eq!(s.server.public_url, "https://login.example.org");
            assert_eq!(s.server.bind, "127.0.0.1:9999");
            assert_eq!(s.siwe.chain_ids, vec![1, 10]);
            assert_eq!(s.session.same_site, SameSite::None);
            assert!(s.cookie_secure());
            assert_eq!(loaded.warnings.len(), 1);
            assert!(loaded.warnings[0].contains("SIWE_NOT__A_KEY"));
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_names_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[server]\nbnid = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("c.toml")))
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("bnid"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn same_site_none_without_https_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SIWE_SESSION__SAME_SITE", "none");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("same_site"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SIWE_SESSION__TTL_SECS", "soon");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("session.ttl_secs"), "{err}");
            jail.set_env("SIWE_SESSION__TTL_SECS", "60");
            jail.set_env("SIWE_SERVER__PUBLIC_URL", "login.example.org");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("server.public_url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_zero_reauth_window_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SIWE_SESSION__REAUTH_WINDOW_SECS", "0");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("session.reauth_window_secs"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_example_config_loads_and_names_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example");
        let text = std::fs::read_to_string(&path).unwrap();
        figment::Jail::expect_with(|_| {
            let loaded = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
            let defaults = serde_json::to_value(Settings::default()).unwrap();
            assert_eq!(
                serde_json::to_value(loaded.settings).unwrap(),
                defaults,
                "its values are the defaults"
            );
            Ok(())
        });
        for key in known_keys() {
            let leaf = key.rsplit('.').next().unwrap();
            let section = key.split('.').next().unwrap();
            if key.contains('.') {
                let documented = text.lines().any(|l| {
                    let l = l.trim_start_matches("# ").trim_start_matches('#').trim();
                    l.starts_with(&format!("{leaf} ="))
                        || l.starts_with(&format!("[[{section}.{leaf}]]"))
                });
                assert!(documented, "config.toml.example documents {key}");
            } else {
                assert!(
                    text.contains(&format!("[{key}]")),
                    "config.toml.example has [{key}]"
                );
            }
        }
    }
}
