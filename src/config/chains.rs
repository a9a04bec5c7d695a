//! `[chains."<id>"]`: the JSON-RPC endpoints of each chain whose contract wallets (EIP-1271,
//! EIP-6492) may sign in, tried in order. Only these URLs are ever called: nothing a client
//! sends chooses where the server connects.

use std::{collections::BTreeMap, time::Duration};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use url::Url;

/// One URL or a list of them (`rpc_url = "http://..."` or `rpc_url = ["http://...", ...]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Default for OneOrMany {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl OneOrMany {
    fn items(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSettings {
    /// JSON-RPC endpoints (http or https), tried in order until one answers.
    pub rpc_url: OneOrMany,
    /// How long one endpoint may take to answer one call before the next is tried.
    pub timeout_ms: u64,
}

impl Default for ChainSettings {
    fn default() -> Self {
        Self {
            rpc_url: OneOrMany::default(),
            timeout_ms: 3000,
        }
    }
}

/// `[chains]`, by chain id as the config names it (a TOML key is a string).
pub type ChainsSettings = BTreeMap<String, ChainSettings>;

/// Whether `key` is `chains.<id>.<a key of one chain's table>` (as an environment variable
/// names it, lower-cased: `SIWE_CHAINS__1__RPC_URL`).
pub(super) fn is_chain_key(key: &str) -> bool {
    let mut parts = key.split('.');
    let (Some("chains"), Some(id), Some(field), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let fields = serde_json::to_value(ChainSettings::default()).unwrap_or_default();
    id.parse::<u64>().is_ok() && fields.get(field).is_some()
}

/// One chain's endpoints, checked.
#[derive(Debug, Clone)]
pub struct ChainRpc {
    pub chain_id: u64,
    pub rpc_urls: Vec<Url>,
    pub timeout: Duration,
}

/// Every chain with at least one endpoint, by chain id.
pub fn validate(settings: &ChainsSettings) -> anyhow::Result<Vec<ChainRpc>> {
    let mut chains = Vec::new();
    for (key, chain) in settings {
        let chain_id: u64 =
            key.parse().ok().filter(|id| *id > 0).with_context(|| {
                format!("chains.{key:?}: the key must be a chain id such as \"1\"")
            })?;
        let mut rpc_urls = Vec::new();
        for text in chain.rpc_url.items() {
            let url = Url::parse(text)
                .with_context(|| format!("chains.\"{key}\".rpc_url: {text:?} is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                bail!("chains.\"{key}\".rpc_url: {text:?} must be an http or https URL");
            }
            rpc_urls.push(url);
        }
        if chain.timeout_ms == 0 || chain.timeout_ms > 60_000 {
            bail!("chains.\"{key}\".timeout_ms must be between 1 and 60000");
        }
        if !rpc_urls.is_empty() {
            chains.push(ChainRpc {
                chain_id,
                rpc_urls,
                timeout: Duration::from_millis(chain.timeout_ms),
            });
        }
    }
    Ok(chains)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(url: &str) -> ChainsSettings {
        let chain = ChainSettings {
            rpc_url: OneOrMany::One(url.into()),
            ..Default::default()
        };
        BTreeMap::from([("1".to_string(), chain)])
    }

    #[test]
    fn accepts_http_urls_and_refuses_others() {
        assert_eq!(validate(&one("http://127.0.0.1:8545")).unwrap().len(), 1);
        assert!(validate(&one("ws://127.0.0.1:8545")).is_err());
        assert!(validate(&one("not a url")).is_err());
        let mut bad_key = one("http://127.0.0.1:8545");
        bad_key.insert("mainnet".into(), ChainSettings::default());
        assert!(validate(&bad_key).is_err());
    }
}
