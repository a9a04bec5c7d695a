//! `[oidc]`: the OpenID Connect provider: how long its codes and tokens live, and (in
//! `[[oidc.clients]]`) the apps that may use it.

use std::{collections::HashSet, path::PathBuf, time::Duration};

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::Secret;

/// The OpenID Connect provider's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    pub code_ttl_secs: u64,
    pub access_token_ttl_secs: u64,
    pub id_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// The apps that may sign people in (`[[oidc.clients]]`); more can be added with
    /// `siwe-server clients add`.
    pub clients: Vec<ClientSettings>,
}

/// One `[[oidc.clients]]` table. Names of scopes, subject types and algorithms are the
/// domain's to judge (`domain::oidc::client::ClientSpec`); config checks the rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub id: String,
    /// Shown on the consent page (default: the id).
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Says explicitly that the client has no secret (a secret is then an error).
    #[serde(default)]
    pub public: bool,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub trusted: bool,
    #[serde(default = "default_subject")]
    pub subject: String,
    #[serde(default = "default_id_token_alg")]
    pub id_token_alg: String,
}

fn default_subject() -> String {
    "public".into()
}

/// RS256: what every OpenID Connect client supports (Core 1.0 section 15.1).
fn default_id_token_alg() -> String {
    "RS256".into()
}

/// Where a configured client's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSecret {
    /// A public client.
    None,
    Value(Secret),
    /// Read at start-up.
    File(PathBuf),
}

/// A configured client: its settings and where its secret is.
#[derive(Debug, Clone)]
pub struct OidcClient {
    pub settings: ClientSettings,
    pub secret: ClientSecret,
}

/// Shortest configured secret: a secret is a password an attacker can try at the token
/// endpoint.
pub const MIN_CLIENT_SECRET_LEN: usize = 16;

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            code_ttl_secs: 60,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            clients: Vec::new(),
        }
    }
}

/// `[oidc]`, checked.
#[derive(Debug, Clone)]
pub struct Oidc {
    pub code_ttl: Duration,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub clients: Vec<OidcClient>,
}

impl Oidc {
    /// The longest a JWT of the provider lives: retired signing keys stay published this long.
    pub fn longest_jwt_ttl(&self) -> Duration {
        self.access_token_ttl.max(self.id_token_ttl)
    }
}

impl OidcSettings {
    pub fn validate(&self) -> anyhow::Result<Oidc> {
        for (key, secs) in [
            ("code_ttl_secs", self.code_ttl_secs),
            ("access_token_ttl_secs", self.access_token_ttl_secs),
            ("id_token_ttl_secs", self.id_token_ttl_secs),
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
        ] {
            if secs == 0 {
                bail!("oidc.{key} must be at least 1");
            }
        }
        if self.code_ttl_secs > 600 {
            bail!("oidc.code_ttl_secs must be at most 600 (RFC 6749 section 4.1.2 advises 600)");
        }
        let mut ids = HashSet::new();
        let clients = self
            .clients
            .iter()
            .enumerate()
            .map(|(index, client)| {
                if !ids.insert(client.id.as_str()) {
                    bail!("oidc.clients[{index}].id: {:?} is used twice", client.id);
                }
                client.validate(index)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Oidc {
            clients,
            code_ttl: Duration::from_secs(self.code_ttl_secs),
            access_token_ttl: Duration::from_secs(self.access_token_ttl_secs),
            id_token_ttl: Duration::from_secs(self.id_token_ttl_secs),
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
        })
    }
}

impl ClientSettings {
    fn validate(&self, index: usize) -> anyhow::Result<OidcClient> {
        let key = |field: &str| format!("oidc.clients[{index}].{field} ({:?})", self.id);
        let secret = match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => bail!("{}: give secret or secret_file, not both", key("secret")),
            (Some(_), None) | (None, Some(_)) if self.public => {
                bail!("{}: a public client has no secret", key("public"))
            }
            (Some(secret), None) if secret.expose().len() < MIN_CLIENT_SECRET_LEN => bail!(
                "{}: must be at least {MIN_CLIENT_SECRET_LEN} characters",
                key("secret")
            ),
            (Some(secret), None) => ClientSecret::Value(secret.clone()),
            (None, Some(path)) => ClientSecret::File(path.clone()),
            (None, None) => ClientSecret::None,
        };
        Ok(OidcClient {
            settings: self.clone(),
            secret,
        })
    }
}

/// Reads a client's secret file: its content without the final line break.
pub fn read_secret_file(path: &std::path::Path) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.len() < MIN_CLIENT_SECRET_LEN {
        bail!(
            "{} must hold a secret of at least {MIN_CLIENT_SECRET_LEN} characters",
            path.display()
        );
    }
    Ok(Secret::from(secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_may_not_outlive_ten_minutes() {
        let settings = OidcSettings {
            code_ttl_secs: 601,
            ..Default::default()
        };
        assert!(settings.validate().is_err());
        assert!(OidcSettings::default().validate().is_ok());
    }

    fn client(id: &str) -> ClientSettings {
        ClientSettings {
            id: id.into(),
            name: String::new(),
            secret: None,
            secret_file: None,
            public: false,
            redirect_uris: vec!["https://app.example.org/cb".into()],
            post_logout_redirect_uris: vec![],
            scopes: None,
            trusted: false,
            subject: default_subject(),
            id_token_alg: default_id_token_alg(),
        }
    }

    fn error_of(clients: Vec<ClientSettings>) -> String {
        OidcSettings {
            clients,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn client_ids_are_unique() {
        let err = error_of(vec![client("a"), client("b"), client("a")]);
        assert!(err.contains("oidc.clients[2].id"), "{err}");
    }

    #[test]
    fn a_secret_is_inline_or_in_a_file_and_never_on_a_public_client() {
        let secret = Some(Secret::from("s".repeat(32)));
        let both = ClientSettings {
            secret: secret.clone(),
            secret_file: Some("/run/secrets/app".into()),
            ..client("a")
        };
        assert!(error_of(vec![both]).contains("oidc.clients[0].secret"));
        let public = ClientSettings {
            secret: secret.clone(),
            public: true,
            ..client("a")
        };
        assert!(error_of(vec![public]).contains("oidc.clients[0].public"));
        let short = ClientSettings {
            secret: Some(Secret::from("short".to_string())),
            ..client("a")
        };
        assert!(error_of(vec![short]).contains("at least 16"));
        let settings = OidcSettings {
            clients: vec![
                ClientSettings {
                    secret,
                    ..client("inline")
                },
                ClientSettings {
                    secret_file: Some("/run/secrets/app".into()),
                    ..client("file")
                },
                client("none"),
            ],
            ..Default::default()
        };
        let secrets: Vec<_> = settings
            .validate()
            .unwrap()
            .clients
            .into_iter()
            .map(|c| c.secret)
            .collect();
        assert!(matches!(secrets[0], ClientSecret::Value(_)));
        assert_eq!(secrets[1], ClientSecret::File("/run/secrets/app".into()));
        assert_eq!(secrets[2], ClientSecret::None);
    }

    #[test]
    fn a_secret_file_loses_its_final_line_break() {
        let dir = std::env::temp_dir().join(format!("oidc-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, format!("{}\n", "k".repeat(20))).unwrap();
        assert_eq!(read_secret_file(&path).unwrap().expose(), "k".repeat(20));
        std::fs::write(&path, "short\n").unwrap();
        assert!(read_secret_file(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
