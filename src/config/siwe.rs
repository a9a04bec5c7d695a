//! `[siwe]`: what a sign-in message may name (domains, URIs, chains) and for how long a nonce
//! works.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiweSettings {
    /// Extra domains (host[:port]) a message may name, besides public_url's.
    pub domains: Vec<String>,
    /// Extra URI origins a message's URI may have, besides public_url's.
    pub uris: Vec<String>,
    /// Allowed chain ids; empty allows any chain.
    pub chain_ids: Vec<u64>,
    pub statement: Option<String>,
    pub nonce_ttl_secs: u64,
    pub clock_skew_secs: u64,
}

impl Default for SiweSettings {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            uris: Vec::new(),
            chain_ids: Vec::new(),
            statement: Some("Sign in with Ethereum to this server.".into()),
            nonce_ttl_secs: 300,
            clock_skew_secs: 60,
        }
    }
}

impl SiweSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        for domain in &self.domains {
            if domain.is_empty() || domain.contains("://") || domain.contains('/') {
                bail!(
                    "siwe.domains: {domain:?} must be a host or host:port, without scheme or path"
                );
            }
        }
        for uri in &self.uris {
            let parsed = Url::parse(uri).with_context(|| {
                format!("siwe.uris: {uri:?} is not an absolute URL such as https://app.example.org")
            })?;
            if parsed.host().is_none() {
                bail!("siwe.uris: {uri:?} has no host");
            }
        }
        if let Some(statement) = &self.statement {
            if !crate::domain::siwe::is_valid_statement(statement) {
                bail!(
                    "siwe.statement must be one line of letters, digits, spaces and URI \
                     punctuation (EIP-4361 allows no other characters)"
                );
            }
        }
        if self.nonce_ttl_secs == 0 {
            bail!("siwe.nonce_ttl_secs must be at least 1");
        }
        Ok(())
    }
}
