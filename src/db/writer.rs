//! The one writer: a thread that owns the only writing connection and commits queued writes
//! in batches. SQLite allows one writer at a time anyway; one thread that never waits for the
//! lock, and one commit for many small writes, is what makes writes fast.

use std::{panic::AssertUnwindSafe, sync::mpsc};

use rusqlite::Connection;

use super::exec;
use crate::error::{AppError, AppResult};

/// Most writes committed together; a batch never waits to fill up.
const MAX_BATCH: usize = 256;
/// WAL pages after which the writer checkpoints itself (SQLite's default is 1,000).
const WRITER_CHECKPOINT_PAGES: i64 = 20_000;

/// Reports how the batch a job ran in ended: `Err` when it could not be committed.
type Finish = Box<dyn FnOnce(Result<(), &rusqlite::Error>) + Send>;
/// Runs one job's work inside its own savepoint and returns how to report its result.
type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;

#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

pub(super) fn stopped() -> AppError {
    AppError::Internal(anyhow::anyhow!("the database writer has stopped"))
}

impl Writer {
    /// Starts the writer thread on `conn`, and a checkpointer thread on `checkpoints` that
    /// copies committed pages from the WAL into the database file (and waits for the disk)
    /// so that the writer does not have to. Both end when the last handle is dropped.
    pub(super) fn start(conn: Connection, checkpoints: Connection) -> std::io::Result<Self> {
        // The writer checkpoints only if the checkpointer falls far behind.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .map_err(std::io::Error::other)?;
        let (nudge, nudges) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || {
                while nudges.recv().is_ok() {
                    let done =
                        checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(err) = done {
                        tracing::warn!(error = %err, "WAL checkpoint failed");
                    }
                }
            })?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(&conn, &queue, &nudge))?;
        Ok(Self { jobs })
    }

    /// Queues `work`; `answer` gets its result, on the writer thread, once its batch is
    /// committed (or is dropped unanswered if the writer has stopped).
    pub(super) fn submit<T, F, A>(&self, work: F, answer: A) -> AppResult<()>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> AppResult<T> + Send + 'static,
        A: FnOnce(AppResult<T>) + Send + 'static,
    {
        // Keep the request's span (and its request id) on logs written by the work.
        let span = tracing::Span::current();
        let job: Job = Box::new(move |conn| {
            let result = span.in_scope(|| atomically(conn, work));
            Box::new(move |committed| {
                let result = match (result, committed) {
                    (Ok(_), Err(err)) => Err(AppError::Internal(
                        anyhow::Error::msg(err.to_string()).context("commit failed"),
                    )),
                    (result, _) => result,
                };
                answer(result);
            })
        });
        self.jobs.send(job).map_err(|_| stopped())
    }
}

/// Runs `work` so that an error (or a panic) undoes its writes and leaves the rest of the
/// transaction alone. Savepoints nest, so work may call this again for a part of itself.
pub fn atomically<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> AppResult<T>,
) -> AppResult<T> {
    exec(conn, "SAVEPOINT work")?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
        Err(AppError::Internal(anyhow::anyhow!(
            "database work panicked"
        )))
    });
    if result.is_err() {
        exec(conn, "ROLLBACK TO work")?;
    }
    exec(conn, "RELEASE work")?;
    result
}

fn run(conn: &Connection, queue: &mpsc::Receiver<Job>, checkpoint: &mpsc::SyncSender<()>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        // Should BEGIN fail, each job's savepoint is then its own transaction.
        let in_batch = exec(conn, "BEGIN IMMEDIATE").is_ok();
        let finishes: Vec<Finish> = batch.into_iter().map(|job| job(conn)).collect();
        let committed = if in_batch {
            exec(conn, "COMMIT")
        } else {
            Ok(())
        };
        if let Err(err) = &committed {
            tracing::error!(error = %err, jobs = finishes.len(), "database commit failed");
            let _ = exec(conn, "ROLLBACK");
        }
        for finish in finishes {
            finish(committed.as_ref().map(|_| ()));
        }
        // One pending nudge is enough: a checkpoint takes everything committed before it.
        let _ = checkpoint.try_send(());
    }
}
