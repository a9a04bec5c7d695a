//! `[tokens]`: the JWTs other services accept, and the rotation of their signing keys.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// Short-lived JWTs for other services (`POST /api/auth/token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub ttl_secs: u64,
    /// Allowed `aud` values; the first is the default. Empty: only public_url's origin.
    pub audiences: Vec<String>,
    /// How long a rotated-in key is published before it signs (JWKS caches must learn it).
    pub key_publish_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            audiences: Vec::new(),
            key_publish_secs: 900,
        }
    }
}

/// `[tokens]`, checked, with the default audience filled in.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub ttl: Duration,
    /// Allowed `aud` values, the default first; never empty.
    pub audiences: Vec<String>,
    pub key_publish: Duration,
}

impl TokenSettings {
    /// `public_origin` is the audience when none is configured.
    pub fn validate(&self, public_origin: &str) -> anyhow::Result<Tokens> {
        if self.ttl_secs == 0 {
            bail!("tokens.ttl_secs must be at least 1");
        }
        if self.audiences.iter().any(|a| a.trim().is_empty()) {
            bail!("tokens.audiences may not contain empty values");
        }
        Ok(Tokens {
            ttl: Duration::from_secs(self.ttl_secs),
            audiences: if self.audiences.is_empty() {
                vec![public_origin.to_string()]
            } else {
                self.audiences.clone()
            },
            key_publish: Duration::from_secs(self.key_publish_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_origin_is_the_audience_when_none_is_set() {
        let tokens = TokenSettings::default()
            .validate("https://login.example.org")
            .unwrap();
        assert_eq!(tokens.audiences, vec!["https://login.example.org"]);
    }
}
