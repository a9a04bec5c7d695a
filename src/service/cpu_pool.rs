//! A few threads for CPU-heavy work (signature recovery), fewer than the cores: a burst of
//! sign-ins then cannot take every core from the async workers that serve session checks.
//! Busy threads take queued work one item after another, with no wake-up per item.

use std::sync::{mpsc, Arc, Mutex};

use crate::error::{AppError, AppResult};

type Job = Box<dyn FnOnce() + Send>;

pub struct CpuPool {
    jobs: mpsc::Sender<Job>,
}

impl CpuPool {
    /// One thread fewer than the cores (at least one); they end when the pool is dropped.
    pub fn new() -> std::io::Result<Self> {
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("cpu-{n}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let next = match queue.lock() {
                        Ok(queue) => queue.recv(),
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

    /// Starts `work` on the pool, in the current tracing span, without waiting for it. A panic
    /// ends only `work` (dropping what it holds, such as the sender of its answer).
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) -> AppResult<()> {
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| span.in_scope(work)));
        });
        self.jobs
            .send(job)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the CPU pool has stopped")))
    }
}
