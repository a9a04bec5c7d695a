//! `[audit]`: how long security events are kept.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Days security events are kept.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

/// `[audit]`, checked.
#[derive(Debug, Clone)]
pub struct Audit {
    /// How long security events are kept.
    pub retention: Duration,
}

impl AuditSettings {
    pub fn validate(&self) -> anyhow::Result<Audit> {
        if self.retention_days == 0 {
            bail!("audit.retention_days must be at least 1");
        }
        Ok(Audit {
            retention: Duration::from_secs(u64::from(self.retention_days) * 86_400),
        })
    }
}
