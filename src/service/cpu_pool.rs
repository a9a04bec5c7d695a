//! A few threads for CPU-heavy work (signature recovery), fewer than the cores: a burst of
//! sign-ins then cannot take every core from the async workers that serve session checks.
//! Busy threads take queued work one item after another, with no wake-up per item. The queue
//! is bounded: when it is full, new work is refused (503 `overloaded`) instead of piling up.
//! When the pool has a thread with nothing to do, [`CpuPool::run`] does the work on the calling
//! thread instead: handing it over would only add a thread wake-up (and its latency) per check.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    mpsc, Arc, Mutex,
};

use crate::error::{AppError, AppResult};

type Job = Box<dyn FnOnce() + Send>;

/// Checks waiting for a thread at most: about a second of work on one core (a recovery takes
/// ~30 µs, a whole check a little more), far more than a healthy server ever queues.
pub const CPU_QUEUE: usize = 4096;

/// A few threads that recover signers, so that the async workers keep serving meanwhile.
pub struct CpuPool {
    jobs: mpsc::SyncSender<Job>,
    /// Work running or queued, on the pool's threads or on callers' ([`CpuPool::run`]).
    in_flight: Arc<AtomicUsize>,
    threads: usize,
}

/// One unit of work in flight, until dropped (also when the work panics). Handed to the work,
/// which may drop it once its CPU-heavy part is done, so that the pool counts only that.
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn start(in_flight: &Arc<AtomicUsize>) -> Self {
        in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(in_flight))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
        Ok(Self {
            jobs,
            in_flight: Arc::new(AtomicUsize::new(0)),
            threads,
        })
    }

    /// Does `work` right here when less work is in flight than the pool has threads (nothing
    /// queued: a pool thread would be idle anyway), else hands it to the pool as
    /// [`CpuPool::spawn`] does. A burst thus still queues on the pool, so the async workers
    /// keep serving other requests, and at most `threads` callers work here at a time.
    pub fn run(&self, work: impl FnOnce(InFlight) + Send + 'static) -> AppResult<()> {
        let threads = self.threads;
        let here = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < threads).then_some(n + 1)
            });
        if here.is_err() {
            return self.spawn(work);
        }
        work(InFlight(Arc::clone(&self.in_flight)));
        Ok(())
    }

    /// Starts `work` on the pool, in the current tracing span, without waiting for it; refused
    /// with `overloaded` when the queue is full. A panic ends only `work` (dropping what it
    /// holds, such as the sender of its answer).
    pub fn spawn(&self, work: impl FnOnce(InFlight) + Send + 'static) -> AppResult<()> {
        let span = tracing::Span::current();
        let in_flight = InFlight::start(&self.in_flight);
        let job: Job = Box::new(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                span.in_scope(|| work(in_flight))
            }));
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

    /// Keeps the only thread of `pool` busy until the returned sender is used.
    fn occupy(pool: &CpuPool) -> mpsc::Sender<()> {
        let (started, running) = mpsc::channel();
        let (release, blocked) = mpsc::channel::<()>();
        pool.spawn(move |_| {
            started.send(()).unwrap();
            let _ = blocked.recv();
        })
        .unwrap();
        running.recv().unwrap();
        release
    }

    #[test]
    fn a_full_queue_refuses_work_as_overloaded() {
        let pool = CpuPool::with_threads(1, 2).unwrap();
        let release = occupy(&pool);
        // The only thread is busy: two jobs fit in the queue, the third does not.
        let (done, finished) = mpsc::channel();
        for _ in 0..2 {
            let done = done.clone();
            pool.spawn(move |_| done.send(()).unwrap()).unwrap();
        }
        let refused = pool.spawn(|_| {}).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::Overloaded);
        // Once the thread is free, the queued work runs and the pool takes work again.
        release.send(()).unwrap();
        finished.recv().unwrap();
        finished.recv().unwrap();
        pool.spawn(move |_| done.send(()).unwrap()).unwrap();
        finished.recv().unwrap();
    }

    fn thread_name() -> Option<String> {
        std::thread::current().name().map(str::to_string)
    }

    #[test]
    fn work_runs_on_the_caller_while_the_pool_is_idle_and_queues_behind_busy_threads() {
        let pool = CpuPool::with_threads(1, 2).unwrap();
        let (ran, on) = mpsc::channel();
        let here = ran.clone();
        pool.run(move |_| here.send(thread_name()).unwrap())
            .unwrap();
        assert_eq!(on.recv().unwrap(), thread_name());
        // The only thread is busy: work goes to the pool, never to a second caller.
        let release = occupy(&pool);
        let queued = ran.clone();
        pool.run(move |_| queued.send(thread_name()).unwrap())
            .unwrap();
        release.send(()).unwrap();
        assert_eq!(on.recv().unwrap().as_deref(), Some("cpu-0"));
        // Once the pool is idle again (its work done and counted), the caller works again.
        let (idle, wait) = mpsc::channel();
        pool.spawn(move |_| idle.send(()).unwrap()).unwrap();
        wait.recv().unwrap();
        while pool.in_flight.load(Ordering::Acquire) > 0 {
            std::thread::yield_now();
        }
        pool.run(move |_| ran.send(thread_name()).unwrap()).unwrap();
        assert_eq!(on.recv().unwrap(), thread_name());
    }
}
