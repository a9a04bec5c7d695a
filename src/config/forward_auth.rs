//! `[forward_auth]`: the apps a reverse proxy protects through this server, and who may enter
//! which host.

use anyhow::Context;
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

/// `[forward_auth]`, checked as far as config can: origins in their ASCII form. Rule hosts and
/// addresses are the domain's to parse (start-up builds the policy from them).
#[derive(Debug, Clone)]
pub struct ForwardAuth {
    pub origins: Vec<String>,
    pub rules: Vec<ForwardAuthRule>,
}

impl ForwardAuthSettings {
    pub fn validate(&self) -> anyhow::Result<ForwardAuth> {
        let origins = self
            .origins
            .iter()
            .map(|origin| {
                parse_origin(origin).with_context(|| format!("forward_auth.origins: {origin:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(ForwardAuth {
            origins,
            rules: self.rules.clone(),
        })
    }
}
