//! `[database]`: the SQLite file, its pool and the clean-up of expired rows.

use std::path::PathBuf;

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    pub pool_size: u32,
    pub cleanup_interval_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/siwe-server.db"),
            pool_size: 8,
            cleanup_interval_secs: 60,
        }
    }
}

impl DatabaseSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.pool_size == 0 {
            bail!("database.pool_size must be at least 1");
        }
        if self.cleanup_interval_secs == 0 {
            bail!("database.cleanup_interval_secs must be at least 1");
        }
        Ok(())
    }

    /// The folder for generated files (the secret key), next to the database.
    pub fn data_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}
