//! `[pairing]`: cross-device sign-in (a desktop without a wallet signs in with a phone's).

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PairingSettings {
    /// Offer sign-in from another device; false: its routes answer 404, the login page hides it.
    pub enabled: bool,
    /// How long a pairing may wait for its approval and claim, in seconds (60 to 900).
    pub ttl_secs: u64,
    /// Most pairings live at once (anyone may ask for one); past it, 503 `pairing_capacity`.
    pub max_pending: u64,
}

impl Default for PairingSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_secs: 300,
            max_pending: 10_000,
        }
    }
}

/// `[pairing]`, checked.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub enabled: bool,
    pub ttl: Duration,
    pub max_pending: u64,
}

impl PairingSettings {
    pub fn validate(&self) -> anyhow::Result<Pairing> {
        if !(60..=900).contains(&self.ttl_secs) {
            bail!("pairing.ttl_secs must be between 60 and 900 (a pairing is a few minutes' wait)");
        }
        if !(1..=1_000_000).contains(&self.max_pending) {
            bail!("pairing.max_pending must be between 1 and 1000000");
        }
        Ok(Pairing {
            enabled: self.enabled,
            ttl: Duration::from_secs(self.ttl_secs),
            max_pending: self.max_pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_bounds_are_enforced() {
        let pairing = PairingSettings::default().validate().unwrap();
        assert!(pairing.enabled);
        assert_eq!(pairing.ttl, Duration::from_secs(300));
        assert_eq!(pairing.max_pending, 10_000);
        for (ttl_secs, max_pending) in [(59, 10), (901, 10), (300, 0), (300, 1_000_001)] {
            let settings = PairingSettings {
                enabled: true,
                ttl_secs,
                max_pending,
            };
            let err = settings.validate().unwrap_err().to_string();
            assert!(err.contains("pairing."), "{err}");
        }
    }
}
