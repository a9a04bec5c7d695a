//! When the WAL is folded back into the database file: by a thread of its own (which also
//! waits for the disk), each time the WAL has grown by `CHECKPOINT_PAGES` and once no write
//! has been committed for a while; by the writer thread itself past `WRITER_CHECKPOINT_PAGES`
//! (writes then wait for it rather than commit elsewhere). Checkpointing
//! after every commit cost more CPU (a wake-up, page copies and a sync each time) than the
//! commits did. SQLite starts the WAL over only when a write begins with all of it
//! checkpointed, which under steady writes only the writer's own checkpoint ensures.

use std::{
    cell::Cell,
    sync::mpsc,
    time::{Duration, Instant},
};

use rusqlite::{hooks::Wal, Connection};

/// WAL pages (of 4 KB) after which the checkpointer is nudged: SQLite's own default.
const CHECKPOINT_PAGES: i32 = 1_000;
/// WAL pages after which the writer checkpoints itself, so that the WAL starts over: the
/// checkpointer has copied most of it by then. The WAL stays below about 48 MB unless a long
/// read holds the checkpoints back. Writes wait for this checkpoint (its copy and `fsync`):
/// at 4000 pages it came three times a second under full load and doubled the p99 of sign-ins.
const WRITER_CHECKPOINT_PAGES: i32 = 12_000;
/// After this long without a commit the rest of the WAL is checkpointed, so that a quiet
/// server's WAL is folded back too.
const IDLE: Duration = Duration::from_secs(1);

thread_local! {
    /// Pages in the WAL after the last commit on this thread, as SQLite's WAL hook tells: the
    /// hook takes no state, but runs on the committing thread.
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn note_wal_pages(_: &Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// The writer's side of the checkpoints.
pub(super) struct Checkpoints {
    nudge: mpsc::SyncSender<()>,
    watch: WalWatch,
    last_commit: Instant,
}

impl Checkpoints {
    /// Starts the checkpointer thread on `checkpoints`, and counts the WAL pages of `writer`'s
    /// commits (in place of SQLite's automatic checkpoints). The thread ends with this value.
    pub(super) fn start(writer: &Connection, checkpoints: Connection) -> std::io::Result<Self> {
        writer.wal_hook(Some(note_wal_pages));
        let (nudge, nudges) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || {
                while nudges.recv().is_ok() {
                    checkpoint(&checkpoints);
                }
            })?;
        Ok(Self {
            nudge,
            watch: WalWatch::default(),
            last_commit: Instant::now(),
        })
    }

    /// How long the writer thread may wait for work before it calls [`Checkpoints::idle`]: the
    /// rest of the WAL is due to be checkpointed then, or writes committed elsewhere meanwhile
    /// may have left some.
    pub(super) fn idle_wait(&self) -> Duration {
        if self.watch.unchecked {
            IDLE.saturating_sub(self.last_commit.elapsed())
        } else {
            IDLE
        }
    }

    /// The writer thread has waited `idle_wait` for work: the rest of the WAL is checkpointed
    /// once nothing has been committed for `IDLE`.
    pub(super) fn idle(&mut self) {
        if self.watch.unchecked && self.last_commit.elapsed() >= IDLE {
            self.watch.unchecked = false;
            self.nudge();
        }
    }

    /// After a batch on `writer`, on the writer thread: checkpoints as the WAL's size says.
    pub(super) fn after_batch(&mut self, writer: &Connection) {
        match self.committed() {
            Some(Checkpoint::Nudge) => self.nudge(),
            Some(Checkpoint::Here) => checkpoint(writer),
            None => {}
        }
    }

    /// After a commit off the writer thread: as [`Checkpoints::after_batch`], but the writer's
    /// own checkpoint is left to the writer thread (see [`Checkpoints::may_commit_elsewhere`]).
    pub(super) fn after_batch_elsewhere(&mut self) {
        if let Some(Checkpoint::Nudge) = self.committed() {
            self.nudge();
        }
    }

    /// False when the writer thread is to checkpoint before the next commit: until then, every
    /// write goes to it.
    pub(super) fn may_commit_elsewhere(&self) -> bool {
        self.watch.pages < WRITER_CHECKPOINT_PAGES
    }

    fn committed(&mut self) -> Option<Checkpoint> {
        let pages = WAL_PAGES.take();
        if pages > 0 {
            self.last_commit = Instant::now();
        }
        self.watch.committed(pages)
    }

    fn nudge(&self) {
        // One pending nudge is enough: a checkpoint takes everything committed before it.
        let _ = self.nudge.try_send(());
    }
}

fn checkpoint(conn: &Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    if let Err(err) = done {
        tracing::warn!(error = %err, "WAL checkpoint failed");
    }
}

/// Counts WAL pages between checkpoints. SQLite starts the WAL over at the first commit after
/// a complete checkpoint, so its page count falls back then.
#[derive(Default)]
struct WalWatch {
    /// Pages in the WAL after the last commit.
    pages: i32,
    /// The page count at which the checkpointer is nudged next.
    nudge_at: i32,
    /// Commits since the checkpointer was last nudged.
    unchecked: bool,
}

enum Checkpoint {
    Nudge,
    Here,
}

impl WalWatch {
    /// What to do after a batch that left `pages` in the WAL (0: nothing was committed).
    fn committed(&mut self, pages: i32) -> Option<Checkpoint> {
        if pages == 0 {
            return None;
        }
        if pages < self.pages || self.nudge_at == 0 {
            // The WAL started over.
            self.nudge_at = CHECKPOINT_PAGES;
        }
        self.pages = pages;
        self.unchecked = true;
        if pages >= WRITER_CHECKPOINT_PAGES {
            return Some(Checkpoint::Here);
        }
        if pages < self.nudge_at {
            return None;
        }
        self.nudge_at = pages + CHECKPOINT_PAGES;
        self.unchecked = false;
        Some(Checkpoint::Nudge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpointer_is_nudged_every_thousand_pages_and_the_writer_checkpoints_past_its_bound() {
        let mut wal = WalWatch::default();
        let nudged = |c: Option<Checkpoint>| matches!(c, Some(Checkpoint::Nudge));
        assert!(wal.committed(0).is_none(), "nothing committed");
        assert!(wal.committed(10).is_none());
        assert!(wal.unchecked, "checkpointed once idle");
        assert!(nudged(wal.committed(CHECKPOINT_PAGES + 5)));
        assert!(!wal.unchecked);
        assert!(
            wal.committed(CHECKPOINT_PAGES + 50).is_none(),
            "not yet again"
        );
        assert!(nudged(wal.committed(2 * CHECKPOINT_PAGES + 5)));
        // Started over: counted from the start again.
        assert!(wal.committed(20).is_none());
        assert!(nudged(wal.committed(CHECKPOINT_PAGES)));
        assert!(matches!(
            wal.committed(WRITER_CHECKPOINT_PAGES),
            Some(Checkpoint::Here)
        ));
    }
}
