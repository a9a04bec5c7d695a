//! `[oidc]`: the OpenID Connect provider: how long its codes and tokens live, and (in
//! `[[oidc.clients]]`) the apps that may use it.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// The OpenID Connect provider's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSettings {
    pub code_ttl_secs: u64,
    pub access_token_ttl_secs: u64,
    pub id_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            code_ttl_secs: 60,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
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
        Ok(Oidc {
            code_ttl: Duration::from_secs(self.code_ttl_secs),
            access_token_ttl: Duration::from_secs(self.access_token_ttl_secs),
            id_token_ttl: Duration::from_secs(self.id_token_ttl_secs),
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
        })
    }
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
}
