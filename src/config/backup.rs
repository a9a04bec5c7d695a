//! `[backup]`: backups the server takes of its own database, on a schedule, with rotation.

use std::{path::PathBuf, time::Duration};

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// Where scheduled backups go; unset: none are taken.
    pub dir: Option<PathBuf>,
    /// Seconds between two backups (the first one is taken one interval after start).
    pub interval_secs: Option<u64>,
    /// How many backups are kept; older ones are deleted.
    pub keep: Option<usize>,
}

/// `[backup]`, checked: the schedule when `dir` is set.
#[derive(Debug, Clone)]
pub struct Backup {
    pub dir: PathBuf,
    pub interval: Duration,
    pub keep: usize,
}

/// A day: a backup a day is what most self-hosters want.
const DEFAULT_INTERVAL_SECS: u64 = 86_400;
/// A week of daily backups.
const DEFAULT_KEEP: usize = 7;

impl BackupSettings {
    pub fn validate(&self) -> anyhow::Result<Option<Backup>> {
        let Some(dir) = &self.dir else {
            if self.interval_secs.is_some() || self.keep.is_some() {
                bail!("backup.interval_secs and backup.keep need backup.dir");
            }
            return Ok(None);
        };
        if dir.as_os_str().is_empty() {
            bail!("backup.dir must be a folder (or unset)");
        }
        let interval_secs = self.interval_secs.unwrap_or(DEFAULT_INTERVAL_SECS);
        if interval_secs == 0 {
            bail!("backup.interval_secs must be at least 1");
        }
        let keep = self.keep.unwrap_or(DEFAULT_KEEP);
        if !(1..=10_000).contains(&keep) {
            bail!("backup.keep must be between 1 and 10000");
        }
        Ok(Some(Backup {
            dir: dir.clone(),
            interval: Duration::from_secs(interval_secs),
            keep,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_bounds_are_enforced() {
        assert!(BackupSettings::default().validate().unwrap().is_none());
        let on = BackupSettings {
            dir: Some("/var/backups/siwe".into()),
            ..Default::default()
        };
        let on = on.validate().unwrap().unwrap();
        assert_eq!((on.interval, on.keep), (Duration::from_secs(86_400), 7));
        for bad in [
            BackupSettings {
                keep: Some(3),
                ..Default::default()
            },
            BackupSettings {
                dir: Some("b".into()),
                interval_secs: Some(0),
                ..Default::default()
            },
            BackupSettings {
                dir: Some("b".into()),
                keep: Some(0),
                ..Default::default()
            },
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains("backup."), "{err}");
        }
    }
}
