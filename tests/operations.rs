//! Running the server for years, through the real binary: backups taken while people sign in,
//! restores that check before they replace, one server per database, a full disk, SIGTERM and
//! kill -9 under load. Longer than 400 lines because every scenario drives a load against the
//! real process and they share its load helpers (attempt, post, mixed_step).

mod common;

use std::{
    path::Path,
    process::{Output, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{process::*, *};
use reqwest::StatusCode;
use tempfile::TempDir;

/// `siwe-server <args>` on the database in `data`, run to its end.
fn run(data: &Path, args: &[&str]) -> Output {
    let mut cmd = command(data);
    cmd.args(args).stdout(Stdio::piped());
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies the files a backup leaves out (documented: back them up apart) to a new data folder.
fn copy_keys(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["secret.key", "jwt-keys.json"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_sign_ins_restores_every_session_answered_before_it() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let loads: Vec<_> = (0..4)
        .map(|_| {
            let (base, stop, count) = (server.base.clone(), Arc::clone(&stop), Arc::clone(&count));
            tokio::spawn(async move {
                let mut answered = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let body = sign_in(&base, &Wallet::random()).await;
                    answered.push((body["token"].as_str().unwrap().to_string(), Instant::now()));
                    count.fetch_add(1, Ordering::Relaxed);
                }
                answered
            })
        })
        .collect();
    // However slow the machine: some sign-ins before the backup, and some after it.
    let answered_at_least = |n: usize| {
        let count = Arc::clone(&count);
        async move {
            while count.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    answered_at_least(8).await;

    let backup = dir.path().join("backup.db");
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let (data, backup) = (data.clone(), backup.clone());
        move || run(&data, &["backup", backup.to_str().unwrap()])
    })
    .await
    .unwrap();
    let ended = Instant::now();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("backed up"),
        "{}",
        text(&out.stdout)
    );
    answered_at_least(count.load(Ordering::Relaxed) + 8).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered = Vec::new();
    for load in loads {
        answered.extend(load.await.unwrap());
    }
    let before: Vec<&String> = answered
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(token, _)| token)
        .collect();
    let after: Vec<&String> = answered
        .iter()
        .filter(|(_, at)| *at > ended)
        .map(|(token, _)| token)
        .collect();
    assert!(!before.is_empty(), "sign-ins ran before the backup");
    assert!(!after.is_empty(), "sign-ins went on after the backup");
    assert!(server.terminate().success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the backup is private");
    }

    let restored = dir.path().join("restored");
    copy_keys(&data, &restored);
    let out = run(&restored, &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(run(&restored, &["check"]).status.success());
    let server = Server::start(&restored);
    for token in before {
        assert_eq!(session_status(&server.base, token).await, StatusCode::OK);
    }
    // Sessions opened after the backup are not in it: this is the backup, not the live file.
    assert_eq!(
        session_status(&server.base, after[after.len() - 1]).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_checks_the_backup_and_refuses_while_a_server_runs() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let kept = sign_in(&server.base, &Wallet::random()).await;
    let kept = kept["token"].as_str().unwrap();
    let backup = dir.path().join("backup.db");
    assert!(run(&data, &["backup", backup.to_str().unwrap()])
        .status
        .success());

    // `check` says a server runs on it, and how backups are taken.
    let checked = run(&data, &["check"]);
    let said = text(&checked.stdout);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(
        said.contains("a server is running on the database"),
        "{said}"
    );
    assert!(said.contains("no scheduled backups"), "{said}");

    // One server per database; and no restore under a running one.
    let out = command(&data).output().unwrap();
    assert!(!out.status.success(), "a second server on one database");
    assert!(
        text(&out.stderr).contains("is running"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&data, &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("stop it first"),
        "{}",
        text(&out.stderr)
    );
    // A backup into a folder that does not exist: a clear error.
    let out = run(&data, &["backup", "/nonexistent/folder/b.db"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/nonexistent/folder"),
        "{}",
        text(&out.stderr)
    );
    let signed_in_later = sign_in(&server.base, &Wallet::random()).await;
    assert!(server.terminate().success());

    // Files that are no backup of ours are refused and change nothing.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let newer = dir.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let missing = dir.path().join("missing.db");
    for (file, why) in [
        (&garbage, "not a database"),
        (&newer, "newer than this binary"),
        (&missing, "no backup at"),
    ] {
        let out = run(&data, &["restore", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{why}");
        assert!(
            text(&out.stderr).contains(why),
            "{why}: {}",
            text(&out.stderr)
        );
    }
    let checked = run(&data, &["check"]);
    assert!(!text(&checked.stdout).contains("a server is running"));
    let server = Server::start(&data);
    let later = signed_in_later["token"].as_str().unwrap();
    assert_eq!(session_status(&server.base, later).await, StatusCode::OK);
    assert!(server.terminate().success());

    // A good backup replaces the database; the replaced one is kept.
    let out = run(&data, &["restore", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(data.join("siwe.db.before-restore").is_file());
    let server = Server::start(&data);
    assert_eq!(session_status(&server.base, kept).await, StatusCode::OK);
    assert_eq!(
        session_status(&server.base, later).await,
        StatusCode::UNAUTHORIZED,
        "the restored database is the backup's"
    );
}

/// Posts a sign-in of a new wallet, issued at the server's time (its clock may have moved).
async fn try_sign_in(app: &TestApp) -> reqwest::Response {
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.issued_at = rfc3339(app.clock.now());
    app.verify_spec(&wallet, &spec).await
}

/// A database that cannot grow (here `database.max_size_mb`; a full disk gives SQLite the same
/// SQLITE_FULL) refuses writes with 503 `storage_unavailable` and changes nothing, keeps
/// answering session checks, and takes writes again as soon as there is room, without a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_refuses_writes_keeps_sessions_and_recovers_by_itself() {
    if common::postgres::skip_unless_sqlite("database.max_size_mb is SQLite's") {
        return;
    }
    let app = TestApp::spawn_with(|s| {
        s.database.max_size_mb = 1;
        s.rate_limit.auth_per_minute = 0;
    })
    .await;
    let before = app.sign_in(&Wallet::random()).await;
    let before = before["token"].as_str().unwrap().to_string();

    let mut refused = None;
    for _ in 0..400 {
        let answers = futures_util::future::join_all((0..8).map(|_| try_sign_in(&app))).await;
        if let Some(full) = answers
            .into_iter()
            .find(|resp| resp.status() != StatusCode::OK)
        {
            refused = Some(full);
            break;
        }
    }
    let full = refused.expect("1 MB fills up");
    let status = full.status();
    let retry_after = full.headers().get("retry-after").cloned();
    let body: serde_json::Value = full.json().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "storage_unavailable", "{body}");
    assert_eq!(retry_after.unwrap(), "60");

    // Still full (a small write may still find a free page now and then); never a 500; reads
    // and session checks go on.
    let mut refusals = 0;
    for _ in 0..20 {
        let resp = try_sign_in(&app).await;
        if resp.status() != StatusCode::OK {
            expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable").await;
            refusals += 1;
        }
    }
    assert!(refusals >= 10, "{refusals} of 20 sign-ins refused");
    assert_eq!(
        app.session_with_bearer(&before).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    // Room comes back (here: sessions and nonces expire and the clean-up deletes them).
    app.advance_clock(3 * 86_400);
    app.service.delete_expired().await.unwrap();
    let resp = try_sign_in(&app).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "writes again without a restart"
    );
    let check = rusqlite::Connection::open(app.db_path()).unwrap();
    let integrity: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// A POST with `client`'s cookies and CSRF token; its status, or what went wrong.
async fn post(
    client: &reqwest::Client,
    url: String,
    csrf: &str,
    body: serde_json::Value,
) -> Result<(StatusCode, serde_json::Value), String> {
    let resp = client
        .post(url)
        .header("X-CSRF-Token", csrf)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    Ok((status, body))
}

/// SIGTERM in the middle of sign-ins: every request is answered or refused, none is cut off
/// after its write was committed; the process exits 0 with the WAL folded into the database,
/// and the next start finds every answered session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_sign_ins_answers_or_refuses_each_and_exits_clean() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let count = Arc::new(AtomicUsize::new(0));
    let loads: Vec<_> = (0..8)
        .map(|_| {
            let (base, count) = (server.base.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut outcomes = Vec::new();
                loop {
                    let wallet = Wallet::random();
                    let outcome = attempt(&client, &base, &wallet)
                        .await
                        .map(|body| body["token"].as_str().unwrap().to_string());
                    let ended = outcome.is_err();
                    outcomes.push((wallet, outcome));
                    count.fetch_add(1, Ordering::Relaxed);
                    if ended {
                        return outcomes;
                    }
                }
            })
        })
        .collect();
    while count.load(Ordering::Relaxed) < 24 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exit = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(exit.success(), "SIGTERM exits 0: {exit:?}");
    let mut outcomes = Vec::new();
    for load in loads {
        outcomes.extend(load.await.unwrap());
    }
    let wal = data.join("siwe.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the WAL was checkpointed into the database"
    );

    let server = Server::start(&data);
    let (mut answered, mut refused) = (0, 0);
    for (wallet, outcome) in &outcomes {
        match outcome {
            Ok(token) => {
                answered += 1;
                assert_eq!(session_status(&server.base, token).await, StatusCode::OK);
            }
            Err(why) => {
                refused += 1;
                let again = sign_in(&server.base, wallet).await;
                assert_eq!(
                    again["created"], true,
                    "a refused sign-in ({why}) left nothing behind"
                );
            }
        }
    }
    assert!(
        answered >= 24 && refused >= 1,
        "{answered} answered, {refused} refused"
    );
}

/// What a request of the mixed load was answered, to be found again after the restart.
enum Answered {
    SignedIn(String),
    Linked { user_id: String, wallet: Wallet },
    LoggedOut(String),
}

/// One step of the mixed load, by `kind`: a sign-in; a sign-in that links a second wallet; a
/// sign-in that signs out. `None` once the server stops answering.
async fn mixed_step(base: &str, kind: usize) -> Option<Answered> {
    let client = cookie_client();
    let body = attempt(&client, base, &Wallet::random()).await.ok()?;
    let token = body["token"].as_str()?.to_string();
    let csrf = body["csrfToken"].as_str()?.to_string();
    match kind {
        0 => Some(Answered::SignedIn(token)),
        1 => {
            let wallet = Wallet::random();
            let challenge = serde_json::json!({ "address": wallet.address });
            let (_, challenge) = post(
                &client,
                format!("{base}/api/wallets/challenge"),
                &csrf,
                challenge,
            )
            .await
            .ok()?;
            let message = challenge["message"].as_str()?.to_string();
            let link =
                serde_json::json!({ "message": message, "signature": wallet.sign(&message) });
            let (status, _) = post(&client, format!("{base}/api/wallets"), &csrf, link)
                .await
                .ok()?;
            assert!(
                status.is_success() || status.is_server_error(),
                "link: {status}"
            );
            status.is_success().then(|| Answered::Linked {
                user_id: body["user"]["id"].as_str().unwrap().to_string(),
                wallet,
            })
        }
        _ => {
            let (status, _) = post(
                &client,
                format!("{base}/api/auth/logout"),
                &csrf,
                serde_json::Value::Null,
            )
            .await
            .ok()?;
            status.is_success().then_some(Answered::LoggedOut(token))
        }
    }
}

/// kill -9 during mixed writes (sign-ins, links, sign-outs): after the restart every write that
/// was answered as done is there, and the file passes integrity_check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_mixed_writes_loses_nothing_answered() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let count = Arc::new(AtomicUsize::new(0));
    let loads: Vec<_> = (0..9)
        .map(|task| {
            let (base, count) = (server.base.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                let mut answered = Vec::new();
                while let Some(done) = mixed_step(&base, task % 3).await {
                    answered.push(done);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                answered
            })
        })
        .collect();
    while count.load(Ordering::Relaxed) < 45 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_hard();
    let mut answered = Vec::new();
    for load in loads {
        answered.extend(load.await.unwrap());
    }

    let server = Server::start(&data);
    let mut kinds = [0; 3];
    for done in &answered {
        match done {
            Answered::SignedIn(token) => {
                kinds[0] += 1;
                assert_eq!(session_status(&server.base, token).await, StatusCode::OK);
            }
            Answered::Linked { user_id, wallet } => {
                kinds[1] += 1;
                let again = sign_in(&server.base, wallet).await;
                assert_eq!(again["user"]["id"], user_id.as_str(), "the link is kept");
            }
            Answered::LoggedOut(token) => {
                kinds[2] += 1;
                assert_eq!(
                    session_status(&server.base, token).await,
                    StatusCode::UNAUTHORIZED,
                    "the sign-out is kept"
                );
            }
        }
    }
    assert!(
        kinds.iter().all(|n| *n > 0),
        "each kind answered: {kinds:?}"
    );
    assert!(server.terminate().success());
    let integrity: String = rusqlite::Connection::open(data.join("siwe.db"))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// The scheduled backups of `dir`, oldest first.
fn backups_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|e| e == "db"));
    found.sort();
    found
}

/// `[backup]` takes a backup every interval and keeps the newest `keep`; each is a whole
/// database with the accounts of the moment it was taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_taken_and_rotated() {
    if common::postgres::skip_unless_sqlite("[backup] copies the SQLite file") {
        return;
    }
    let backups = TempDir::new().unwrap();
    let dir = backups.path().join("siwe");
    let app = TestApp::spawn_with(|s| {
        s.backup.dir = Some(dir.clone());
        s.backup.interval_secs = Some(1);
        s.backup.keep = Some(2);
    })
    .await;
    let user = app.sign_in(&Wallet::random()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first_seen = None;
    let taken = loop {
        let taken = backups_in(&dir);
        assert!(taken.len() <= 2, "keep = 2: {taken:?}");
        match (&first_seen, taken.first()) {
            (None, Some(first)) => first_seen = Some(first.clone()),
            (Some(seen), Some(first)) if seen != first && taken.len() == 2 => break taken,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no rotation in 30 s: {taken:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the backup folder is private");
    }
    for backup in taken {
        let conn = rusqlite::Connection::open(&backup).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM users WHERE id = ?1",
                [user["user"]["id"].as_str().unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "{} holds the account", backup.display());
    }
}

/// A migration that fails leaves the database as it was: all of it runs in one transaction.
/// Made to fail for real, whatever the newest migration is: the upgrade fixture of the schema
/// before it (tests/fixtures/upgrade/) is given the object the migration's last statement makes,
/// so its earlier statements succeed and the last one fails.
#[test]
fn a_failed_migration_leaves_the_database_as_it_was() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut migrations: Vec<_> = std::fs::read_dir(root.join("src/db/migrations"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    migrations.sort();
    let newest = migrations.last().unwrap();
    let number: i64 = newest.file_name().unwrap().to_str().unwrap()[..4]
        .parse()
        .unwrap();
    let sql = std::fs::read_to_string(newest).unwrap();
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    data_from_fixture(number - 1, &data);
    let db = data.join("siwe.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(version(&conn), number - 1, "the fixture's schema");
    // The newest migration's statements (SQLite's parser splits them), run to be prepared in
    // order and rolled back; then only the last one is applied.
    use rusqlite::fallible_iterator::FallibleIterator;
    let mut statements = Vec::new();
    conn.execute_batch("BEGIN").unwrap();
    let mut batch = rusqlite::Batch::new(&conn, &sql);
    while let Some(mut statement) = batch.next().unwrap() {
        statements.push(statement.expanded_sql().unwrap());
        statement.execute([]).unwrap();
    }
    conn.execute_batch("ROLLBACK").unwrap();
    assert!(
        statements.len() >= 2,
        "migration {number} has one statement: {sql}"
    );
    conn.execute_batch(statements.last().unwrap())
        .unwrap_or_else(|e| panic!("migration {number}'s last statement on its own: {e}"));
    let schema = |conn: &rusqlite::Connection| -> Vec<String> {
        let mut rows = conn
            .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        let rows = rows.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    let before = schema(&conn);
    drop(conn);

    let out = command(&data).output().unwrap();
    assert!(!out.status.success(), "start-up fails");
    let said = text(&out.stderr);
    assert!(said.contains("cannot migrate the database"), "{said}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(version(&conn), number - 1, "the version is as it was");
    assert_eq!(
        schema(&conn),
        before,
        "migration {number}'s first statements were rolled back"
    );
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
