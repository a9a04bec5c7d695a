//! `[database]`: the SQLite file (or a PostgreSQL URL), its pool and the clean-up of expired
//! rows.

use std::{path::PathBuf, time::Duration};

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    /// May hold a password: never printed.
    pub url: Option<Secret>,
    pub pool_size: u32,
    pub cleanup_interval_secs: u64,
    pub max_size_mb: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/siwe-server.db"),
            url: None,
            pool_size: 8,
            cleanup_interval_secs: 60,
            max_size_mb: 0,
        }
    }
}

/// `[database]`, checked, with the data folder worked out.
#[derive(Debug, Clone)]
pub struct Database {
    pub path: PathBuf,
    /// PostgreSQL instead of the SQLite file at `path`.
    pub url: Option<Secret>,
    pub pool_size: u32,
    pub cleanup_interval: Duration,
    /// Where the database stops growing (`None`: where the disk does).
    pub max_bytes: Option<u64>,
    /// The folder for generated files (secret key, token signing keys), next to the database.
    pub data_dir: PathBuf,
}

impl DatabaseSettings {
    pub fn validate(&self) -> anyhow::Result<Database> {
        if self.pool_size == 0 {
            bail!("database.pool_size must be at least 1");
        }
        if self.cleanup_interval_secs == 0 {
            bail!("database.cleanup_interval_secs must be at least 1");
        }
        let url = self.url.clone().filter(|url| !url.expose().is_empty());
        if let Some(url) = url.as_ref().map(Secret::expose) {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("database.url must be a postgres:// URL (or unset, for SQLite)");
            }
            if self.max_size_mb > 0 {
                bail!("database.max_size_mb applies to SQLite only; unset it with database.url");
            }
        }
        let data_dir = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Database {
            path: self.path.clone(),
            url,
            pool_size: self.pool_size,
            cleanup_interval: Duration::from_secs(self.cleanup_interval_secs),
            max_bytes: (self.max_size_mb > 0).then(|| self.max_size_mb.saturating_mul(1 << 20)),
            data_dir,
        })
    }
}
