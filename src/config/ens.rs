//! `[ens]`: primary names and avatars of wallets, resolved on the ENS chain's RPC (display only).

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnsSettings {
    /// Resolve names when the ENS chain has an RPC in `[chains]`; false never calls it for names.
    pub enabled: bool,
    /// The chain whose ENS registry names wallets (1, Ethereum mainnet).
    pub chain_id: u64,
    /// The ENS registry's address on that chain (the same on mainnet and its testnets).
    pub registry: String,
    /// How long a resolved name (or the lack of one) is kept before it is resolved again.
    pub ttl_secs: u64,
}

impl Default for EnsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            chain_id: 1,
            registry: "0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e".into(),
            ttl_secs: 86_400,
        }
    }
}

/// `[ens]`, checked.
#[derive(Debug, Clone)]
pub struct Ens {
    pub enabled: bool,
    pub chain_id: u64,
    /// 20 bytes.
    pub registry: [u8; 20],
    pub ttl: Duration,
}

impl EnsSettings {
    pub fn validate(&self) -> anyhow::Result<Ens> {
        let hex = self.registry.strip_prefix("0x").unwrap_or(&self.registry);
        let mut registry = [0u8; 20];
        if hex::decode_to_slice(hex, &mut registry).is_err() {
            bail!("ens.registry must be an address (0x and 40 hex digits)");
        }
        if self.ttl_secs < 60 {
            bail!("ens.ttl_secs must be at least 60");
        }
        Ok(Ens {
            enabled: self.enabled,
            chain_id: self.chain_id,
            registry,
            ttl: Duration::from_secs(self.ttl_secs),
        })
    }
}
