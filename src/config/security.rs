//! `[security]`: the MAC key and the pages' Content-Security-Policy additions.

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::Secret;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Key for session-token MACs and CSRF tokens; generated into the data folder when unset.
    pub secret: Option<Secret>,
    /// Extra CSP `frame-src` sources for the pages (e.g. a WalletConnect modal's origin).
    pub csp_frame_src: Vec<String>,
    /// Extra CSP `connect-src` sources for the pages (e.g. wss://relay.walletconnect.com).
    pub csp_connect_src: Vec<String>,
    /// Who may frame the pages (CSP `frame-ancestors`); empty means nobody.
    pub csp_frame_ancestors: Vec<String>,
}

impl SecuritySettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(secret) = &self.secret {
            if secret.expose().len() < 32 {
                bail!("security.secret must be at least 32 characters (or leave it unset to generate one)");
            }
        }
        for (key, sources) in [
            ("security.csp_frame_src", &self.csp_frame_src),
            ("security.csp_connect_src", &self.csp_connect_src),
            ("security.csp_frame_ancestors", &self.csp_frame_ancestors),
        ] {
            for source in sources {
                if source.is_empty()
                    || source.contains([';', ',', '\'', '"'])
                    || source.contains(char::is_whitespace)
                {
                    bail!("{key}: {source:?} must be one CSP source such as https://verify.walletconnect.com");
                }
            }
        }
        Ok(())
    }
}
