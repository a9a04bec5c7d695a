use super::*;
use crate::error::ErrorCode;
use rusqlite::params;

fn writer(bound: usize) -> Writer {
    let open = || Connection::open_in_memory().unwrap();
    Writer::start_with_queue(open(), open(), bound).unwrap()
}

/// Keeps the writer busy with a job that runs `first` and then waits: jobs queued
/// meanwhile wait too, and go in one batch once the returned sender is sent to.
fn busy(
    writer: &Writer,
    first: impl FnOnce(&Conn) -> AppResult<()> + Send + 'static,
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
        conn.execute("CREATE TABLE t (n INTEGER)", &[]).map(|_| ())
    });
    // Queued meanwhile, so one batch: its first job runs without a savepoint.
    let insert = |n: i64, fails: bool| {
        move |conn: &Conn| {
            conn.execute("INSERT INTO t VALUES (?1)", params![n])?;
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
    let read = |conn: &Conn| -> AppResult<Vec<i64>> {
        conn.query_vec("SELECT n FROM t", &[], |r| r.get(0))
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

#[test]
fn an_idle_writer_lets_the_caller_commit_and_a_busy_one_keeps_the_order() {
    let writer = writer(16);
    let here = std::thread::current().id();
    let (answer, answered) = mpsc::channel();
    let on_thread = |n: i64| {
        move |conn: &Conn| {
            conn.execute("INSERT INTO t VALUES (?1)", params![n])?;
            Ok(std::thread::current().id())
        }
    };
    let tell = |answer: &mpsc::Sender<_>| {
        let answer = answer.clone();
        move |on: AppResult<std::thread::ThreadId>| answer.send(on.unwrap()).unwrap()
    };
    writer
        .submit_here_if_idle(
            |conn| conn.execute("CREATE TABLE t (n INTEGER)", &[]).map(|_| ()),
            |_: AppResult<()>| {},
        )
        .unwrap();
    // Idle: committed on this thread, and answered before the call returns.
    writer
        .submit_here_if_idle(on_thread(1), tell(&answer))
        .unwrap();
    assert_eq!(answered.try_recv().unwrap(), here);

    // Busy: the write waits for the writer thread, behind the one queued before it.
    let release = busy(&writer, |_| Ok(()));
    writer.submit(on_thread(2), tell(&answer)).unwrap();
    writer
        .submit_here_if_idle(on_thread(3), tell(&answer))
        .unwrap();
    release.send(()).unwrap();
    let writer_thread = answered.recv().unwrap();
    assert_ne!(writer_thread, here);
    assert_eq!(answered.recv().unwrap(), writer_thread);
    let (rows, read) = mpsc::channel();
    writer
        .submit(
            |conn| conn.query_vec("SELECT n FROM t ORDER BY rowid", &[], |r| r.get(0)),
            move |n: AppResult<Vec<i64>>| rows.send(n.unwrap()).unwrap(),
        )
        .unwrap();
    assert_eq!(read.recv().unwrap(), vec![1, 2, 3]);
    // Having found the writer busy, writes go to it for a while (steady load keeps batching).
    assert!(writer.contention.lately(writer.contention.now()));
}
