//! The one writer: a thread that owns the only writing connection and commits queued writes
//! in batches. SQLite allows one writer at a time anyway; one thread that never waits for the
//! lock, and one commit for many small writes, is what makes writes fast.

mod checkpoints;

use std::{
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc,
    },
};

use checkpoints::Checkpoints;
use rusqlite::Connection;
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
    /// Jobs queued and not yet taken by the writer.
    queued: Arc<AtomicUsize>,
    bound: usize,
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
        let taken = Arc::clone(&queued);
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || run(&conn, &queue, &taken, checkpoints))?;
        Ok(Self {
            jobs,
            queued,
            bound,
        })
    }

    /// Queues `work`; `answer` gets its result, on the writer thread, once its batch is
    /// committed; or `overloaded` at once when the queue is full; or is dropped unanswered
    /// (and this fails) if the writer has stopped. Work whose answer is abandoned by the time
    /// the writer reaches it is skipped.
    pub(super) fn submit<T, F, A>(&self, work: F, answer: A) -> AppResult<()>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> AppResult<T> + Send + 'static,
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
        // Keep the request's span (and its request id) on logs written by the work.
        let span = tracing::Span::current();
        let job: Job = Box::new(move |conn, undo| {
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
        });
        self.jobs.send(job).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            stopped()
        })
    }
}

/// Runs `work` so that an error (or a panic) undoes its writes and leaves the rest of the
/// transaction alone, as `undo` says.
fn atomically<T>(
    conn: &Connection,
    undo: Undo,
    work: impl FnOnce(&Connection) -> AppResult<T>,
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

fn run(
    conn: &Connection,
    queue: &mpsc::Receiver<Job>,
    queued: &AtomicUsize,
    mut checkpoints: Checkpoints,
) {
    loop {
        let next = match checkpoints.idle_wait() {
            Some(wait) => queue.recv_timeout(wait),
            None => queue
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        let first = match next {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                checkpoints.idle();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
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
                // SQLite rolled the transaction back by itself (a full disk, an I/O error):
                // the batch's writes so far are gone, so their requests are told so; the
                // rest of the batch gets a transaction of its own, never autocommit writes
                // that a failed COMMIT would then misreport.
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
        checkpoints.after_batch(conn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn writer(bound: usize) -> Writer {
        let open = || Connection::open_in_memory().unwrap();
        Writer::start_with_queue(open(), open(), bound).unwrap()
    }

    /// Keeps the writer busy with a job that runs `first` and then waits: jobs queued
    /// meanwhile wait too, and go in one batch once the returned sender is sent to.
    fn busy(
        writer: &Writer,
        first: impl FnOnce(&Connection) -> AppResult<()> + Send + 'static,
    ) -> mpsc::Sender<()> {
        let (started, running) = mpsc::channel();
        let (release, blocked) = mpsc::channel::<()>();
        writer
            .submit(
                move |conn| {
                    first(conn)?;
                    started.send(()).unwrap();
                    let _ = blocked.recv();
                    Ok(())
                },
                |_: AppResult<()>| {},
            )
            .unwrap();
        running.recv().unwrap();
        release
    }

    #[test]
    fn a_failed_job_is_undone_alone_whether_first_in_its_batch_or_not() {
        let writer = writer(16);
        let release = busy(&writer, |conn| {
            Ok(exec(conn, "CREATE TABLE t (n INTEGER)")?)
        });
        // Queued meanwhile, so one batch: its first job runs without a savepoint.
        let insert = |n: i64, fails: bool| {
            move |conn: &Connection| {
                conn.execute("INSERT INTO t VALUES (?1)", [n])?;
                if fails {
                    return Err(AppError::unauthenticated());
                }
                Ok(())
            }
        };
        for (n, fails) in [(1, true), (2, false), (3, true)] {
            writer
                .submit(insert(n, fails), |_: AppResult<()>| {})
                .unwrap();
        }
        let (answer, answered) = mpsc::channel();
        let read = |conn: &Connection| -> AppResult<Vec<i64>> {
            let mut stmt = conn.prepare("SELECT n FROM t")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        writer
            .submit(read, move |rows: AppResult<Vec<i64>>| {
                answer.send(rows.unwrap()).unwrap()
            })
            .unwrap();
        release.send(()).unwrap();
        assert_eq!(answered.recv().unwrap(), vec![2]);
    }

    #[test]
    fn a_full_queue_answers_overloaded_and_abandoned_work_is_skipped() {
        let writer = writer(3);
        // The writer is busy with this job; the next ones wait in the queue.
        let release = busy(&writer, |_| Ok(()));
        let (answers, answered) = mpsc::channel();
        let answer = |answers: &mpsc::Sender<Result<(), ErrorCode>>| {
            let answers = answers.clone();
            move |result: AppResult<()>| answers.send(result.map_err(|e| e.code())).unwrap()
        };
        writer.submit(|_| Ok(()), answer(&answers)).unwrap();
        // A waiter that goes away before the writer reaches its work: the work never runs.
        let (reply, gone) = oneshot::channel::<AppResult<()>>();
        let (ran, skipped) = mpsc::channel();
        writer
            .submit(
                move |_| {
                    ran.send(()).unwrap();
                    Ok(())
                },
                ForWaiter(reply),
            )
            .unwrap();
        drop(gone);
        writer.submit(|_| Ok(()), answer(&answers)).unwrap();
        // Three waiting: the next is refused at once.
        writer.submit(|_| Ok(()), answer(&answers)).unwrap();
        assert_eq!(answered.recv().unwrap(), Err(ErrorCode::Overloaded));

        release.send(()).unwrap();
        assert_eq!(answered.recv().unwrap(), Ok(()));
        assert_eq!(answered.recv().unwrap(), Ok(()));
        assert!(skipped.try_recv().is_err(), "abandoned work was skipped");
        // The queue has room again.
        writer.submit(|_| Ok(()), answer(&answers)).unwrap();
        assert_eq!(answered.recv().unwrap(), Ok(()));
    }
}
