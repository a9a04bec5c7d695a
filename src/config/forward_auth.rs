//! `[forward_auth]`: the apps a reverse proxy protects through this server, and who may enter
//! which host.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::parse_origin;

/// Forward-auth for reverse proxies (`GET /api/auth/forward`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthSettings {
    /// Origins of the apps behind the proxy: signed-out browsers are sent to the login page and
    /// back to these after signing in.
    pub origins: Vec<String>,
    /// Per-host allow-lists of addresses; hosts without a rule admit every signed-in wallet.
    pub rules: Vec<ForwardAuthRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardAuthRule {
    pub host: String,
    pub addresses: Vec<String>,
}

impl ForwardAuthSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        for origin in &self.origins {
            parse_origin(origin).with_context(|| format!("forward_auth.origins: {origin:?}"))?;
        }
        for rule in &self.rules {
            if crate::domain::forward_auth::ProtectedHost::parse_rule(&rule.host).is_none() {
                bail!(
                    "forward_auth.rules: host {:?} must be a host name such as admin.example.org \
                     (optionally with a port)",
                    rule.host
                );
            }
            for address in &rule.addresses {
                crate::domain::siwe::parse_address(address).map_err(|_| {
                    anyhow::anyhow!(
                        "forward_auth.rules ({}): {address:?} is not an address",
                        rule.host
                    )
                })?;
            }
        }
        Ok(())
    }
}
