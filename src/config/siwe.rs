//! `[siwe]`: what a sign-in message may name (domains, URIs, chains) and for how long a nonce
//! works.

use std::time::Duration;

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
    /// The longest signature accepted, in bytes: a key signs 65, a contract wallet (EIP-1271)
    /// or a not-yet-deployed one (EIP-6492, its deployment data included) more.
    pub max_signature_bytes: usize,
    /// Contract-wallet checks (RPC calls) in flight at once; more wait, then get 503.
    pub max_contract_checks: usize,
    /// Ask each live contract-wallet session's contract again this often and end those it no
    /// longer accepts (its owners changed); 0 never asks again.
    pub recheck_contract_sessions_secs: u64,
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
            max_signature_bytes: 8192,
            max_contract_checks: 32,
            recheck_contract_sessions_secs: 0,
        }
    }
}

/// `[siwe]`, checked: the extra domains lower-cased and the extra URIs reduced to origins.
/// Whether the statement is one EIP-4361 line is the domain's to judge (start-up asks it).
#[derive(Debug, Clone)]
pub struct Siwe {
    /// Extra host[:port] values a message's domain may be, lower case.
    pub domains: Vec<String>,
    /// Extra origins a message's URI may have.
    pub uri_origins: Vec<url::Origin>,
    /// Empty allows any chain.
    pub chain_ids: Vec<u64>,
    pub statement: Option<String>,
    pub nonce_ttl: Duration,
    pub clock_skew: Duration,
    pub max_signature_bytes: usize,
    pub max_contract_checks: usize,
    /// None: contract-wallet sessions are not asked again.
    pub recheck_contract_sessions: Option<Duration>,
}

impl SiweSettings {
    pub fn validate(&self) -> anyhow::Result<Siwe> {
        for domain in &self.domains {
            if domain.is_empty() || domain.contains("://") || domain.contains('/') {
                bail!(
                    "siwe.domains: {domain:?} must be a host or host:port, without scheme or path"
                );
            }
        }
        let mut uri_origins = Vec::new();
        for uri in &self.uris {
            let parsed = Url::parse(uri).with_context(|| {
                format!("siwe.uris: {uri:?} is not an absolute URL such as https://app.example.org")
            })?;
            if parsed.host().is_none() {
                bail!("siwe.uris: {uri:?} has no host");
            }
            uri_origins.push(parsed.origin());
        }
        if self.nonce_ttl_secs == 0 {
            bail!("siwe.nonce_ttl_secs must be at least 1");
        }
        if !(65..=65_536).contains(&self.max_signature_bytes) {
            bail!("siwe.max_signature_bytes must be between 65 and 65536");
        }
        if self.max_contract_checks == 0 {
            bail!("siwe.max_contract_checks must be at least 1");
        }
        Ok(Siwe {
            domains: self
                .domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            uri_origins,
            chain_ids: self.chain_ids.clone(),
            statement: self.statement.clone(),
            nonce_ttl: Duration::from_secs(self.nonce_ttl_secs),
            clock_skew: Duration::from_secs(self.clock_skew_secs),
            max_signature_bytes: self.max_signature_bytes,
            max_contract_checks: self.max_contract_checks,
            recheck_contract_sessions: (self.recheck_contract_sessions_secs > 0)
                .then(|| Duration::from_secs(self.recheck_contract_sessions_secs)),
        })
    }
}
