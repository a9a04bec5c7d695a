//! The one writer: the only writing connection, and a thread that commits queued writes on it
//! in batches. SQLite allows one writer at a time anyway; one connection that never waits for
//! the lock, and one commit for many small writes, is what makes writes fast. When nothing is
//! queued and no batch is running, a request's write runs on the requesting thread instead
//! (see [`Writer::submit_here_if_idle`]): handing it over would cost two thread wake-ups, more
//! than the commit itself.

mod checkpoints;

use std::{
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc, Arc, Mutex, MutexGuard,
    },
    time::Instant,
};

use checkpoints::Checkpoints;
use rusqlite::Connection;

use super::Conn;
use tokio::sync::oneshot;

use super::exec;
use crate::error::{AppError, AppResult};

/// Most writes committed together; a batch never waits to fill up.
const MAX_BATCH: usize = 256;
/// Writes waiting for the writer at most: some 16 batches, a fraction of a second of work.
/// Past it, writes are refused (503 `overloaded`) instead of piling up in memory.
pub const WRITE_QUEUE: usize = 4096;

/// Reports how the batch a job ran in ended: `Err` when it could not be committed (or SQLite
/// rolled it back).
type Finish = Box<dyn FnOnce(Result<(), &AppError>) + Send>;
/// Runs one job's work, undone as told should it fail, and returns how to report its result.
type Job = Box<dyn FnOnce(&Connection, Undo) -> Finish + Send>;

/// How a failed job's writes are undone.
#[derive(Clone, Copy)]
enum Undo {
    /// Back to a savepoint of its own: the transaction holds other jobs' writes.
    Savepoint,
    /// By rolling the transaction back: the job is the first in it. Spares the savepoint, which
    /// keeps a copy of every page the job changes (as much work as the changes themselves).
    Transaction,
}

#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Jobs queued and not yet run; taken off only under the lock of `writing`, so that a
    /// write run in place never overtakes one queued before it.
    queued: Arc<AtomicUsize>,
    bound: usize,
    /// The writing connection, held by whoever commits: the writer thread for a batch, or a
    /// requesting thread for its own write.
    writing: Arc<Mutex<Writing>>,
    contention: Arc<Contention>,
}

/// Until when writes go to the writer thread: one found it busy lately. Under steady load,
/// its batches commit many writes for about the cost of one.
struct Contention {
    started: Instant,
    /// µs after `started`.
    until: AtomicU64,
}

impl Contention {
    fn now(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn seen(&self, now: u64) {
        self.until.store(now + CONTENDED_MICROS, Ordering::Relaxed);
    }

    fn lately(&self, now: u64) -> bool {
        now < self.until.load(Ordering::Relaxed)
    }
}

/// How long writes go to the writer thread after one found it busy: committed one by one in
/// place, a steady stream of writes cost more than in the writer's batches (measured at 16
/// connections; BENCHMARKS.md).
const CONTENDED_MICROS: u64 = 100_000;

/// What only one thread at a time may use: the writing connection and its WAL's count.
struct Writing {
    conn: Connection,
    checkpoints: Checkpoints,
}

/// Who gets the result of a queued write.
pub trait Answer<T>: Send + 'static {
    fn send(self, result: AppResult<T>);
    /// True when nobody waits for the result any more, so that work which matters only to
    /// its requester may be skipped. Never, unless said otherwise.
    fn abandoned(&self) -> bool {
        false
    }
}

impl<T, F> Answer<T> for F
where
    F: FnOnce(AppResult<T>) + Send + 'static,
{
    fn send(self, result: AppResult<T>) {
        self(result);
    }
}

/// The answer of work that matters only to the request waiting for it (a sign-in, a link):
/// skipped when that request has gone away (client disconnected) before the writer reached it.
pub struct ForWaiter<T>(pub oneshot::Sender<AppResult<T>>);

impl<T: Send + 'static> Answer<T> for ForWaiter<T> {
    fn send(self, result: AppResult<T>) {
        // The requester may have gone away since; nothing to tell.
        let _ = self.0.send(result);
    }

    fn abandoned(&self) -> bool {
        self.0.is_closed()
    }
}

pub(super) fn stopped() -> AppError {
    AppError::Internal(anyhow::anyhow!("the database writer has stopped"))
}

impl Writer {
    /// Starts the writer thread on `conn`, and a checkpointer thread on `checkpoints` that
    /// copies committed pages from the WAL into the database file (and waits for the disk)
    /// so that the writer does not have to. Both end when the last handle is dropped.
    pub(super) fn start(conn: Connection, checkpoints: Connection) -> std::io::Result<Self> {
        Self::start_with_queue(conn, checkpoints, WRITE_QUEUE)
    }

    /// [`Writer::start`] with at most `bound` writes waiting.
    fn start_with_queue(
        conn: Connection,
        checkpoints: Connection,
        bound: usize,
    ) -> std::io::Result<Self> {
        let checkpoints = Checkpoints::start(&conn, checkpoints)?;
        let (jobs, queue) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writing = Arc::new(Mutex::new(Writing { conn, checkpoints }));
        let contention = Arc::new(Contention {
            started: Instant::now(),
            until: AtomicU64::new(0),
        });
        let (taken, thread_writing) = (Arc::clone(&queued), Arc::clone(&writing));
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(&thread_writing, &queue, &taken))?;
        Ok(Self {
            jobs,
            queued,
            bound,
            writing,
            contention,
        })
    }

    /// [`Writer::submit`], but when no write is queued or running (nor was lately), and the WAL
    /// needs no checkpoint by the writer, runs `work` and commits it here, on the calling
    /// thread, and answers before returning. For short writes only: the caller waits for the
    /// commit (and, should another process hold the write lock, for up to the busy timeout).
    pub(super) fn submit_here_if_idle<T, F, A>(&self, work: F, answer: A) -> AppResult<()>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> AppResult<T> + Send + 'static,
        A: Answer<T>,
    {
        let Some(mut writing) = self.idle() else {
            return self.submit(work, answer);
        };
        let job = job(work, answer);
        commit(&writing.conn, vec![job]);
        writing.checkpoints.after_batch_elsewhere();
        Ok(())
    }

    /// The writing connection, when it is free, nothing is queued for it and it may commit
    /// off the writer thread.
    fn idle(&self) -> Option<MutexGuard<'_, Writing>> {
        let now = self.contention.now();
        if self.contention.lately(now) {
            return None;
        }
        let writing = match self.writing.try_lock() {
            Ok(writing) => writing,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                self.contention.seen(now);
                return None;
            }
        };
        // Read under the lock: the writer thread takes jobs off the count only under it.
        if self.queued.load(Ordering::Acquire) == 0 && writing.checkpoints.may_commit_elsewhere() {
            return Some(writing);
        }
        drop(writing);
        self.contention.seen(now);
        None
    }

    /// Queues `work`; `answer` gets its result, on the writer thread, once its batch is
    /// committed; or `overloaded` at once when the queue is full; or is dropped unanswered
    /// (and this fails) if the writer has stopped. Work whose answer is abandoned by the time
    /// the writer reaches it is skipped.
    pub(super) fn submit<T, F, A>(&self, work: F, answer: A) -> AppResult<()>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> AppResult<T> + Send + 'static,
        A: Answer<T>,
    {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.bound {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(
                queue = self.bound,
                "database write queue full; write refused"
            );
            answer.send(Err(AppError::overloaded()));
            return Ok(());
        }
        self.jobs.send(job(work, answer)).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            stopped()
        })
    }
}

/// `work` as a job: skipped when its answer is abandoned, run atomically in the request's span
/// (and its request id, on logs written by the work), answered once its batch has ended.
fn job<T, F, A>(work: F, answer: A) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Conn) -> AppResult<T> + Send + 'static,
    A: Answer<T>,
{
    let span = tracing::Span::current();
    Box::new(move |conn, undo| {
        if answer.abandoned() {
            tracing::debug!("write skipped: its requester has gone away");
            return Box::new(|_| {});
        }
        let result = span.in_scope(|| atomically(conn, undo, work));
        Box::new(move |committed| {
            let result = match (result, committed) {
                (Ok(_), Err(err)) => Err(err.duplicate()),
                (result, _) => result,
            };
            answer.send(result);
        })
    })
}

/// Runs `work` so that an error (or a panic) undoes its writes and leaves the rest of the
/// transaction alone, as `undo` says.
fn atomically<T>(
    conn: &Connection,
    undo: Undo,
    work: impl FnOnce(&Conn) -> AppResult<T>,
) -> AppResult<T> {
    if let Undo::Savepoint = undo {
        exec(conn, "SAVEPOINT work")?;
    }
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|_| {
        Err(AppError::Internal(anyhow::anyhow!(
            "database work panicked"
        )))
    });
    if conn.is_autocommit() {
        // SQLite rolled the whole transaction back (a full disk, an I/O error): nothing is
        // left to undo or release, and the work's writes are gone, whatever it returned.
        return result.and_then(|_| Err(super::storage_unavailable()));
    }
    match undo {
        Undo::Savepoint => {
            if result.is_err() {
                exec(conn, "ROLLBACK TO work")?;
            }
            exec(conn, "RELEASE work")?;
        }
        Undo::Transaction if result.is_err() => {
            exec(conn, "ROLLBACK")?;
            exec(conn, "BEGIN IMMEDIATE")?;
        }
        Undo::Transaction => {}
    }
    result
}

fn run(writing: &Mutex<Writing>, queue: &mpsc::Receiver<Job>, queued: &AtomicUsize) {
    let lock = || {
        writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    loop {
        // Writes committed elsewhere may leave the WAL to checkpoint: waits for work only as
        // long as it may stay so.
        let wait = lock().checkpoints.idle_wait();
        let first = match queue.recv_timeout(wait) {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock().checkpoints.idle();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut writing = lock();
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        queued.fetch_sub(batch.len(), Ordering::Release);
        commit(&writing.conn, batch);
        let Writing { conn, checkpoints } = &mut *writing;
        checkpoints.after_batch(conn);
    }
}

/// Runs `batch` in one transaction and commits it, then tells each job how it ended.
fn commit(conn: &Connection, batch: Vec<Job>) {
    // Should BEGIN fail, each job's savepoint is then its own transaction.
    let mut in_batch = exec(conn, "BEGIN IMMEDIATE").is_ok();
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut undone: Vec<Finish> = Vec::new();
    for (index, job) in batch.into_iter().enumerate() {
        let undo = if in_batch && index == 0 {
            Undo::Transaction
        } else {
            Undo::Savepoint
        };
        finishes.push(job(conn, undo));
        if in_batch && conn.is_autocommit() {
            // SQLite rolled the transaction back by itself (a full disk, an I/O error): the
            // batch's writes so far are gone, so their requests are told so; the rest of the
            // batch gets a transaction of its own, never autocommit writes that a failed
            // COMMIT would then misreport.
            tracing::error!(jobs = finishes.len(), "the database rolled a batch back");
            undone.append(&mut finishes);
            in_batch = exec(conn, "BEGIN IMMEDIATE").is_ok();
        }
    }
    let committed = if in_batch {
        exec(conn, "COMMIT").map_err(AppError::from)
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
    let rolled_back = super::storage_unavailable();
    for finish in undone {
        finish(Err(&rolled_back));
    }
}

#[cfg(test)]
mod tests;
