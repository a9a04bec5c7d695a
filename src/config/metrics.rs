//! `[metrics]`: where Prometheus metrics are served, if anywhere.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::Secret;

/// Prometheus metrics at `/metrics`: on their own listener (`bind`), or on the main one with a
/// bearer token (`token`); with neither, not served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// Serve `/metrics` on this address (e.g. 127.0.0.1:9100), to whoever can reach it.
    pub bind: Option<String>,
    /// Serve `/metrics` on the main listener to requests with `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: None,
            token: None,
        }
    }
}

/// `[metrics]`, checked, with `enabled` applied: where `/metrics` is served, if anywhere.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Its own listener, open to whoever reaches it.
    pub listener: Option<SocketAddr>,
    /// On the main listener, to requests bearing this token.
    pub token: Option<Secret>,
}

impl MetricsSettings {
    pub fn validate(&self) -> anyhow::Result<Metrics> {
        if let Some(token) = &self.token {
            let token = token.expose();
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                bail!("metrics.token must be at least 16 printable characters without spaces");
            }
        }
        let listener = match &self.bind {
            Some(bind) => Some(bind.parse::<SocketAddr>().with_context(|| {
                format!("metrics.bind {bind:?} must be an address and port such as 127.0.0.1:9100")
            })?),
            None => None,
        };
        Ok(Metrics {
            listener: listener.filter(|_| self.enabled),
            token: self.token.clone().filter(|_| self.enabled),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_false_serves_nowhere() {
        let mut settings = MetricsSettings {
            bind: Some("127.0.0.1:9100".into()),
            token: Some("a-long-random-string".to_string().into()),
            ..MetricsSettings::default()
        };
        let on = settings.validate().unwrap();
        assert!(on.listener.is_some() && on.token.is_some());
        settings.enabled = false;
        let off = settings.validate().unwrap();
        assert!(off.listener.is_none() && off.token.is_none());
    }
}
