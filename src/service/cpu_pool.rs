//! A few threads for CPU-heavy work (signature recovery), fewer than the cores: a burst of
//! sign-ins then cannot take every core from the async workers that serve session checks.
//! Busy threads take queued work one item after another, with no wake-up per item. The queue
//! is bounded: when it is full, new work is refused (503 `overloaded`) instead of piling up.

use std::sync::{mpsc, Arc, Mutex};

use crate::error::{AppError, AppResult};

type Job = Box<dyn FnOnce() + Send>;

/// Checks waiting for a thread at most: about a second of work on one core (a recovery takes
/// ~30 µs, a whole check a little more), far more than a healthy server ever queues.
pub const CPU_QUEUE: usize = 4096;

/// A few threads that recover signers, so that the async workers keep serving meanwhile.
pub struct CpuPool {
    jobs: mpsc::SyncSender<Job>,
}

impl CpuPool {
    /// One thread fewer than the cores (at least one); they end when the pool is dropped.
    pub fn new() -> std::io::Result<Self> {
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        Self::with_threads(threads, CPU_QUEUE)
    }

    /// `threads` threads taking work from a queue of at most `queue` jobs.
    pub fn with_threads(threads: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, waiting) = mpsc::sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for n in 0..threads {
            let waiting = Arc::clone(&waiting);
            std::thread::Builder::new()
                .name(format!("cpu-{n}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let next = match waiting.lock() {
                        Ok(waiting) => waiting.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Starts `work` on the pool, in the current tracing span, without waiting for it; refused
    /// with `overloaded` when the queue is full. A panic ends only `work` (dropping what it
    /// holds, such as the sender of its answer).
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) -> AppResult<()> {
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| span.in_scope(work)));
        });
        self.jobs.try_send(job).map_err(|err| match err {
            mpsc::TrySendError::Full(_) => {
                tracing::warn!(queue = CPU_QUEUE, "CPU pool queue full; request refused");
                AppError::overloaded()
            }
            mpsc::TrySendError::Disconnected(_) => {
                AppError::Internal(anyhow::anyhow!("the CPU pool has stopped"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_full_queue_refuses_work_as_overloaded() {
        let pool = CpuPool::with_threads(1, 2).unwrap();
        let (started, running) = mpsc::channel();
        let (release, blocked) = mpsc::channel::<()>();
        pool.spawn(move || {
            started.send(()).unwrap();
            let _ = blocked.recv();
        })
        .unwrap();
        running.recv().unwrap();
        // The only thread is busy: two jobs fit in the queue, the third does not.
        let (done, finished) = mpsc::channel();
        for _ in 0..2 {
            let done = done.clone();
            pool.spawn(move || done.send(()).unwrap()).unwrap();
        }
        let refused = pool.spawn(|| {}).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::Overloaded);
        // Once the thread is free, the queued work runs and the pool takes work again.
        release.send(()).unwrap();
        finished.recv().unwrap();
        finished.recv().unwrap();
        pool.spawn(move || done.send(()).unwrap()).unwrap();
        finished.recv().unwrap();
    }
}
