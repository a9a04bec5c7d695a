//! `[rate_limit]`: per-client-address request limits.

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// Per-client-IP limits; a per-minute value of 0 turns that policy off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// nonce, verify and wallet-link requests.
    pub auth_per_minute: u32,
    pub auth_burst: u32,
    /// Every other API request (session checks and the like).
    pub read_per_minute: u32,
    pub read_burst: u32,
    /// With `database.url`: count every instance's requests together, in PostgreSQL.
    pub shared: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            auth_per_minute: 30,
            auth_burst: 10,
            read_per_minute: 600,
            read_burst: 100,
            shared: false,
        }
    }
}

impl RateLimitSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if (self.auth_per_minute > 0 && self.auth_burst == 0)
            || (self.read_per_minute > 0 && self.read_burst == 0)
        {
            bail!("rate_limit.auth_burst and rate_limit.read_burst must be at least 1 while their policy is on");
        }
        Ok(())
    }
}
