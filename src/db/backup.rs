//! The database file: its backups and restores, the lock that says a server is serving it,
//! its mode, and the checkpoint that leaves it whole at shutdown.
//!
//! A backup is SQLite's `VACUUM INTO` on a connection of its own: one read transaction, a
//! consistent snapshot of everything committed when it began, while the server's writer goes on
//! committing (WAL: readers never block the writer). It is written beside its destination,
//! checked, synced and renamed into place, so the destination is never half a backup. A restore
//! checks the copy (full integrity check, a schema this binary knows) before anything is
//! replaced, and refuses while a server holds the lock.

use std::{
    fs::{self, File, TryLockError},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use rusqlite::Connection;

use super::SCHEMA_VERSION;
use crate::error::{AppError, AppResult};
use crate::files;

/// Held by a serving process for as long as it runs: an advisory lock on `<database>.lock`.
/// It keeps a second server, and a restore, off a database that a server is using.
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

impl ServerLock {
    /// Takes the lock of the database at `db_path`, or says that a server holds it.
    pub fn acquire(db_path: &Path) -> anyhow::Result<Self> {
        let path = lock_path(db_path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            files::create_private_dir(parent)?;
        }
        let file = files::private_file_options()
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => bail!(
                "a siwe-server is running on the database {} (it holds {}); stop it first",
                db_path.display(),
                path.display()
            ),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

impl ServerLock {
    /// Whether a server holds the lock of the database at `db_path` now (creating nothing).
    pub fn is_held(db_path: &Path) -> anyhow::Result<bool> {
        let path = lock_path(db_path);
        let Ok(file) = File::open(&path) else {
            return Ok(false);
        };
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

fn lock_path(db_path: &Path) -> PathBuf {
    with_suffix(db_path, ".lock")
}

/// `path` with `suffix` added to its file name (`siwe.db` -> `siwe.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What a backup or a restore copied.
#[derive(Debug)]
pub struct Copied {
    pub schema_version: i64,
    pub bytes: u64,
    pub users: i64,
    /// Sessions not ended (some may have expired).
    pub sessions: i64,
}

/// Writes a consistent copy of the database at `db_path` to `to` (replacing it atomically);
/// works while a server uses the database.
pub fn backup(db_path: &Path, to: &Path) -> anyhow::Result<Copied> {
    if !db_path.is_file() {
        bail!("there is no database at {}", db_path.display());
    }
    let source = Connection::open(db_path)
        .with_context(|| format!("cannot open the database {}", db_path.display()))?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    let partial = sibling(to, "partial")?;
    // VACUUM INTO writes into an empty file: create it private, so the copy never is readable
    // by others, even for a moment.
    let _ = fs::remove_file(&partial);
    files::private_file_options()
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let written = write_copy(&source, &partial).and_then(|()| checked(&partial));
    let copied = match written {
        Ok(copied) => copied,
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err);
        }
    };
    fs::rename(&partial, to)
        .with_context(|| format!("cannot move the backup into place at {}", to.display()))?;
    sync_folder(to);
    Ok(copied)
}

fn write_copy(source: &Connection, partial: &Path) -> anyhow::Result<()> {
    let target = partial
        .to_str()
        .context("the backup's path is not valid UTF-8")?;
    source
        .execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("cannot write the backup {}", partial.display()))?;
    File::open(partial)?.sync_all()?;
    Ok(())
}

/// The prefix of scheduled backups' names; what follows sorts by time.
const SCHEDULED_PREFIX: &str = "siwe-server-";

/// Takes a scheduled backup of `db_path` into `dir` (created 0700), named by `now` in UTC
/// (`siwe-server-20261203T174200.123Z.db`), then deletes the oldest scheduled backups there
/// beyond `keep`. Returns the new backup's path and how many old ones were deleted.
pub fn scheduled(
    db_path: &Path,
    dir: &Path,
    now: time::OffsetDateTime,
    keep: usize,
) -> anyhow::Result<(PathBuf, usize)> {
    files::create_private_dir(dir)?;
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
        ))?;
    let path = dir.join(format!("{SCHEDULED_PREFIX}{stamp}.db"));
    backup(db_path, &path)?;
    let mut taken: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SCHEDULED_PREFIX) && n.ends_with(".db"))
        })
        .collect();
    taken.sort();
    let surplus = taken.len().saturating_sub(keep);
    for old in &taken[..surplus] {
        fs::remove_file(old).with_context(|| format!("cannot delete {}", old.display()))?;
    }
    Ok((path, surplus))
}

/// Replaces the database at `db_path` with backup `from`, after checking it; the database it
/// replaces is kept as `<database>.before-restore`. Refused while a server holds the lock.
pub fn restore(db_path: &Path, from: &Path) -> anyhow::Result<Copied> {
    let _lock = ServerLock::acquire(db_path)?;
    if !from.is_file() {
        bail!("there is no backup at {}", from.display());
    }
    // Checked as a copy beside the database: the backup itself is never changed, and the final
    // step is one rename on one filesystem.
    let incoming = sibling(db_path, "restoring")?;
    let _ = fs::remove_file(&incoming);
    let mut out = files::private_file_options()
        .create_new(true)
        .open(&incoming)
        .with_context(|| format!("cannot create {}", incoming.display()))?;
    let copied = File::open(from)
        .and_then(|mut input| std::io::copy(&mut input, &mut out))
        .with_context(|| format!("cannot copy {}", from.display()))
        .and_then(|_| Ok(out.sync_all()?))
        .and_then(|()| checked(&incoming));
    let copied = match copied {
        Ok(copied) => copied,
        Err(err) => {
            let _ = fs::remove_file(&incoming);
            return Err(err.context(format!("{} was not restored", from.display())));
        }
    };
    if db_path.exists() {
        // Its WAL holds its last commits: fold them in, so the kept copy is whole and no stale
        // WAL is replayed into the restored file.
        let current = Connection::open(db_path)?;
        current.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        drop(current);
        let kept = with_suffix(db_path, ".before-restore");
        fs::rename(db_path, &kept)
            .with_context(|| format!("cannot keep the current database as {}", kept.display()))?;
    }
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(with_suffix(db_path, suffix));
    }
    fs::rename(&incoming, db_path)
        .with_context(|| format!("cannot move the backup into {}", db_path.display()))?;
    sync_folder(db_path);
    Ok(copied)
}

/// Opens database copy `path` and checks it whole: every page (`integrity_check`), and a
/// schema this binary can open.
fn checked(path: &Path) -> anyhow::Result<Copied> {
    let conn =
        Connection::open(path).with_context(|| format!("{} is not a database", path.display()))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{} is not a database", path.display()))?;
    if integrity != "ok" {
        bail!("{} failed the integrity check: {integrity}", path.display());
    }
    let schema_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if schema_version == 0 {
        bail!("{} is not a siwe-server database", path.display());
    }
    if schema_version > SCHEMA_VERSION {
        bail!(
            "{} has schema version {schema_version}, newer than this binary knows \
             ({SCHEMA_VERSION}); restore it with the newer siwe-server that made it",
            path.display()
        );
    }
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    let users = count("SELECT count(*) FROM users")?;
    let sessions = count("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")?;
    Ok(Copied {
        schema_version,
        bytes: fs::metadata(path)?.len(),
        users,
        sessions,
    })
}

/// A temporary name beside `path`, on the same filesystem so a rename moves it into place.
fn sibling(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{what}-{}", std::process::id()));
    Ok(path.with_file_name(temporary))
}

/// Makes a rename in `path`'s folder durable (best effort: not every system syncs folders).
fn sync_folder(path: &Path) {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(folder) {
            let _ = dir.sync_all();
        }
    }
}

/// Creates the database file 0600 before SQLite does (SQLite would use the umask, typically
/// world-readable, and gives the WAL and SHM files the database's mode); an existing file with
/// a looser mode, and its WAL and SHM, are made private.
pub(super) fn make_database_private(path: &Path) -> anyhow::Result<()> {
    match files::private_file_options().create_new(true).open(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = with_suffix(path, suffix);
        if files::make_private(&file)? {
            tracing::warn!(path = %file.display(), "made a database file readable by its owner only (it was readable by others)");
        }
    }
    Ok(())
}

impl super::Db {
    /// At shutdown, once requests have stopped: waits for every write queued so far to be
    /// committed (the queue is first in, first out), then checkpoints the whole WAL into the
    /// database file and truncates it, so the file alone is the database. (PostgreSQL has
    /// committed each write before answering it: nothing to do.)
    pub async fn finish_writes(&self) -> AppResult<()> {
        self.write(|_| Ok(())).await?;
        let super::Engine::Sqlite(sqlite) = &self.engine else {
            return Ok(());
        };
        let path = sqlite.path.clone();
        let checkpoint = tokio::task::spawn_blocking(move || -> AppResult<()> {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            // The checkpointer thread may be running a PASSIVE checkpoint: meanwhile ours
            // answers busy at once (SQLite calls no busy handler when another checkpoint is
            // running), so it is tried again for a few seconds.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                let busy: i64 =
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
                if busy == 0 {
                    return Ok(());
                }
                if std::time::Instant::now() >= deadline {
                    return Err(AppError::Internal(anyhow::anyhow!(
                        "a reader held the WAL; it is checkpointed at the next start"
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        checkpoint.await.map_err(|e| {
            AppError::Internal(anyhow::Error::new(e).context("checkpoint task failed"))
        })?
    }
}
