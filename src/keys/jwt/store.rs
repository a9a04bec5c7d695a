//! Where the key set is kept: the data folder's file, or the database that every instance
//! shares (PostgreSQL), and how it is read, watched for changes and changed.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::Context;

use super::{KeyFile, StoredKey, FILE_NAME};
use crate::{
    db::{self, Db},
    error::{AppResult, ErrorCode},
};

/// Where the key set is kept.
pub enum KeyStore {
    /// `jwt-keys.json` in the data folder (mode 0600), re-read when it is modified.
    File(PathBuf),
    /// The database's key set, shared by every instance, its version polled every
    /// [`DATABASE_POLL`]. When there is none yet, the data folder's key file (an installation
    /// moving to PostgreSQL) or new keys become it.
    Database {
        db: Box<dyn SharedKeySet>,
        seed_file: PathBuf,
    },
}

/// A key set kept where every instance reads it (the database implements it), as its JSON
/// and a version that each change raises.
pub trait SharedKeySet: Send + Sync {
    /// The key set and its version; `None` before one is stored.
    fn find(&self) -> AppResult<Option<(String, i64)>>;
    /// The version alone (what is polled).
    fn version(&self) -> AppResult<Option<i64>>;
    /// Stores `keys` in place of version `version` (0: the first set); false when another
    /// instance stored or changed it first (nothing stored).
    fn replace(&self, keys: String, version: i64) -> AppResult<bool>;
}

/// What loaded keys were read at, to know when they changed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stamp {
    Modified(Option<SystemTime>),
    /// The database's version; 0 before a key set is stored.
    Version(i64),
}

fn parse(text: &str, source: &dyn std::fmt::Display) -> anyhow::Result<Vec<StoredKey>> {
    let file: KeyFile =
        serde_json::from_str(text).with_context(|| format!("{source} is not a key set"))?;
    Ok(file.keys)
}

pub(super) fn read_file(path: &Path) -> anyhow::Result<Vec<StoredKey>> {
    crate::files::check_secret_file(path)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text, &path.display())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn write_file(path: &Path, keys: Vec<StoredKey>) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut out = crate::files::private_file_options()
        .create(true)
        .truncate(true)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    let text = serde_json::to_string_pretty(&KeyFile { keys })?;
    std::io::Write::write_all(&mut out, text.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl KeyStore {
    /// Where `config` keeps them: with PostgreSQL in the database, shared by every instance;
    /// else in the data folder.
    pub fn configured(config: &crate::config::Config, db: &Db) -> Self {
        let data_dir = &config.database.data_dir;
        match config.database.url {
            Some(_) => Self::database(db.clone(), data_dir),
            None => Self::file(data_dir),
        }
    }

    /// The key file in `data_dir`.
    pub fn file(data_dir: &Path) -> Self {
        Self::File(data_dir.join(FILE_NAME))
    }

    /// The database's key set; the key file in `data_dir` seeds it when there is none yet.
    pub fn database(db: impl SharedKeySet + 'static, data_dir: &Path) -> Self {
        Self::Database {
            db: Box::new(db),
            seed_file: data_dir.join(FILE_NAME),
        }
    }

    /// The stored keys (none yet: empty) and what they were read at.
    pub(super) fn load(&self) -> anyhow::Result<(Vec<StoredKey>, Stamp)> {
        match self {
            Self::File(path) if path.exists() => {
                Ok((read_file(path)?, Stamp::Modified(modified(path))))
            }
            Self::File(_) => Ok((Vec::new(), Stamp::Modified(None))),
            Self::Database { db, seed_file } => match db.find()? {
                Some((text, version)) => {
                    Ok((parse(&text, &"the database")?, Stamp::Version(version)))
                }
                None if seed_file.exists() => Ok((read_file(seed_file)?, Stamp::Version(0))),
                None => Ok((Vec::new(), Stamp::Version(0))),
            },
        }
    }

    /// What the stored keys are at now (a file's modification time, the database's version).
    pub(super) fn stamp(&self) -> anyhow::Result<Stamp> {
        Ok(match self {
            Self::File(path) => Stamp::Modified(modified(path)),
            Self::Database { db, .. } => Stamp::Version(db.version()?.unwrap_or(0)),
        })
    }

    /// Stores `keys` in place of those read at `stamp`; false (nothing stored) when another
    /// instance changed them since.
    fn save(&self, keys: Vec<StoredKey>, stamp: Stamp) -> anyhow::Result<bool> {
        match (self, stamp) {
            (Self::File(path), _) => write_file(path, keys).map(|()| true),
            (Self::Database { db, .. }, Stamp::Version(version)) => {
                let text = serde_json::to_string(&KeyFile { keys })?;
                match db.replace(text, version) {
                    // A racing instance's write conflicted with this one: read again.
                    Err(err) if err.code() == ErrorCode::Overloaded => Ok(false),
                    other => Ok(other?),
                }
            }
            (Self::Database { .. }, Stamp::Modified(_)) => {
                anyhow::bail!("keys read from a file cannot replace the database's")
            }
        }
    }

    /// Reads the stored keys, lets `change` change them (`None`: it changed nothing), and
    /// stores them; from the start again when another instance changed them meanwhile.
    pub(super) fn update<T>(
        &self,
        mut change: impl FnMut(&mut Vec<StoredKey>, Stamp) -> anyhow::Result<Option<T>>,
    ) -> anyhow::Result<Option<T>> {
        for _ in 0..10 {
            let (mut stored, stamp) = self.load()?;
            let Some(changed) = change(&mut stored, stamp)? else {
                return Ok(None);
            };
            if self.save(stored, stamp)? {
                return Ok(Some(changed));
            }
        }
        anyhow::bail!("the signing keys kept changing while this changed them; try again")
    }
}

impl std::fmt::Display for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Database { .. } => f.write_str("the database"),
        }
    }
}

/// The database keeps the key set every instance signs with (PostgreSQL).
impl SharedKeySet for Db {
    fn find(&self) -> AppResult<Option<(String, i64)>> {
        self.read(db::signing_keys::find)
    }

    fn version(&self) -> AppResult<Option<i64>> {
        self.read(db::signing_keys::version)
    }

    fn replace(&self, keys: String, version: i64) -> AppResult<bool> {
        self.write_blocking(move |conn| match version {
            0 => db::signing_keys::insert_first(conn, &keys),
            _ => db::signing_keys::replace(conn, &keys, version),
        })
    }
}
