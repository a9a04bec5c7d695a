//! How the server reaches the database. SQLite: reads in place on a pooled connection, writes
//! through the one writer (in place when it is idle, else in its next batch). PostgreSQL: each
//! step one transaction on a pooled connection (see `postgres`).

use tokio::sync::oneshot;

use super::{
    exec,
    postgres::{self, Step},
    writer, Answer, Conn, Db, Engine, Sqlite, READ_WAIT,
};
use crate::error::{AppError, AppResult};

impl Db {
    /// Runs short reads (a few indexed lookups) in one read transaction on the calling thread:
    /// they take microseconds, less than handing them to another thread would cost.
    pub fn read<T>(&self, work: impl FnOnce(&Conn) -> AppResult<T>) -> AppResult<T> {
        let _timer = crate::metrics::metrics().map(|m| m.db_seconds.start_timer());
        match &self.engine {
            Engine::Sqlite(sqlite) => sqlite.read(work),
            Engine::Postgres(postgres) => postgres.run_here(Step::Read, postgres::once(work)),
        }
    }

    /// Runs reads that may scan many rows on the blocking thread pool.
    pub async fn read_blocking<T, F>(&self, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> AppResult<T> + Send + 'static,
    {
        if let Engine::Postgres(postgres) = &self.engine {
            return postgres.run(Step::Read, postgres::once(work)).await;
        }
        let db = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            db.read(work)
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("database task failed")))?
    }

    /// Runs `work` atomically (it sees its own writes; an error undoes all of them) and answers
    /// once it is committed: here when the writer is idle, else queued for the writer thread
    /// and committed in its next batch. For short writes (see [`Db::write_queued`]).
    pub async fn write<T, F>(&self, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> AppResult<T> + Send + 'static,
    {
        self.write_waited(work, Self::write_then).await
    }

    /// [`Db::write`], always on the writer thread: for work that may hold the write lock for
    /// a while (a cleanup batch), which must not stall the calling async worker.
    pub async fn write_queued<T, F>(&self, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> AppResult<T> + Send + 'static,
    {
        self.write_waited(work, Self::queue).await
    }

    async fn write_waited<T, F>(
        &self,
        work: F,
        submit: impl FnOnce(&Self, F, Reply<T>) -> AppResult<()>,
    ) -> AppResult<T>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> AppResult<T> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        submit(self, work, Reply(reply))?;
        result.await.map_err(|_| writer::stopped())?
    }

    /// Runs `work` like [`Db::write`], and hands its result to `answer` once committed (on
    /// the writer thread, or here before returning); `overloaded` at once when the queue is
    /// full (`answer` is dropped unanswered, and this fails, if the writer has stopped). See
    /// [`Answer::abandoned`].
    pub fn write_then<T, F, A>(&self, work: F, answer: A) -> AppResult<()>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> AppResult<T> + Send + 'static,
        A: Answer<T>,
    {
        let answer = Timed::start(answer);
        match &self.engine {
            Engine::Sqlite(sqlite) => sqlite.writer.submit_here_if_idle(work, answer),
            Engine::Postgres(postgres) => {
                postgres.spawn(Step::Write, work, |result| answer.send(result));
                Ok(())
            }
        }
    }

    /// [`Db::write_then`], always through the writer thread's queue (SQLite).
    fn queue<T, F, A>(&self, work: F, answer: A) -> AppResult<()>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> AppResult<T> + Send + 'static,
        A: Answer<T>,
    {
        match &self.engine {
            Engine::Sqlite(sqlite) => sqlite.writer.submit(work, Timed::start(answer)),
            Engine::Postgres(_) => self.write_then(work, answer),
        }
    }

    /// Runs `work` like [`Db::write`], the calling thread waiting until it is committed: for
    /// start-up and the command line (the signing keys), never a request's async worker.
    pub fn write_blocking<T, F>(&self, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: Fn(&Conn) -> AppResult<T> + Send + 'static,
    {
        match &self.engine {
            Engine::Sqlite(sqlite) => {
                let (reply, result) = std::sync::mpsc::channel();
                sqlite.writer.submit(work, move |written: AppResult<T>| {
                    let _ = reply.send(written);
                })?;
                result.recv().map_err(|_| writer::stopped())?
            }
            Engine::Postgres(postgres) => postgres.run_here(Step::Write, work),
        }
    }

    /// Queues `work` for the writer thread without waiting for it; failures are logged. Best
    /// effort: when the queue is full the write is dropped (with a log line), never waited for.
    pub fn write_later<F>(&self, work: F)
    where
        F: Fn(&Conn) -> AppResult<()> + Send + 'static,
    {
        let answer = |result: AppResult<()>| match result {
            Err(err) if err.code() == crate::error::ErrorCode::Overloaded => {
                tracing::warn!("database write queue full; best-effort write dropped");
            }
            Err(err) => tracing::error!(error = %err, "database write failed"),
            Ok(()) => {}
        };
        if let Err(err) = self.queue(work, answer) {
            tracing::error!(error = %err, "database write dropped");
        }
    }
}

impl Sqlite {
    fn read<T>(&self, work: impl FnOnce(&Conn) -> AppResult<T>) -> AppResult<T> {
        let conn = self.readers.get_timeout(READ_WAIT).map_err(|err| {
            tracing::warn!(error = %err, "no database connection free; request refused");
            AppError::overloaded()
        })?;
        // One transaction: one snapshot, and one lock of the WAL index instead of one per query.
        exec(&conn, "BEGIN")?;
        let result = work(&*conn);
        let ended = exec(&conn, "COMMIT");
        let value = result?;
        ended?;
        Ok(value)
    }
}

/// An answer that stops the write's latency timer when told.
struct Timed<A> {
    timer: Option<prometheus::HistogramTimer>,
    answer: A,
}

impl<A> Timed<A> {
    fn start(answer: A) -> Self {
        let timer = crate::metrics::metrics().map(|m| m.db_seconds.start_timer());
        Self { timer, answer }
    }
}

/// The answer of a write its requester awaits ([`Db::write`]): done even if the requester
/// goes away meanwhile (a sign-out must happen once asked for).
struct Reply<T>(oneshot::Sender<AppResult<T>>);

impl<T: Send + 'static> Answer<T> for Reply<T> {
    fn send(self, result: AppResult<T>) {
        // The requester may have gone away (client disconnected); nothing to tell.
        let _ = self.0.send(result);
    }
}

impl<T, A: Answer<T>> Answer<T> for Timed<A> {
    fn send(self, result: AppResult<T>) {
        drop(self.timer);
        self.answer.send(result);
    }

    fn abandoned(&self) -> bool {
        self.answer.abandoned()
    }
}
