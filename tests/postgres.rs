//! PostgreSQL storage (`database.url`): the real binary, two instances on one database.
//!
//! Needs a PostgreSQL server: `TEST_POSTGRES_URL` is a URL of a role that may create
//! databases (tests/run.sh starts a throwaway cluster and sets it). Each test makes a database
//! of its own. Without the variable these tests say so and pass, unless
//! `TEST_REQUIRE_POSTGRES=1` (set by tests/run.sh, so CI cannot skip them).

mod common;

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use common::{
    cookie_client,
    process::{attempt, command, session_status, Server},
    MessageSpec, Wallet,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio_postgres::NoTls;

/// A fresh database, or `None` (skip) without a PostgreSQL server.
async fn fresh_database() -> Option<String> {
    common::postgres::fresh_database()
}

/// The count `sql` answers, read in PostgreSQL directly (not through the server).
async fn count_in(
    url: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> i64 {
    connect(url)
        .await
        .query_one(sql, params)
        .await
        .unwrap()
        .get(0)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// One instance of the real binary on the database at `url`, with its own data folder.
fn instance(data: &Path, url: &str) -> Server {
    let mut cmd = command(data);
    cmd.env("SIWE_DATABASE__URL", url)
        .env("SIWE_SECURITY__SECRET", common::postgres::SECRET)
        .env("SIWE_RATE_LIMIT__READ_PER_MINUTE", "0");
    Server::start_with(cmd)
}

/// Two instances on one fresh database, each with its own data folder in `dir`.
struct Pair {
    url: String,
    dir: tempfile::TempDir,
    a: Server,
    b: Server,
}

async fn two_instances() -> Option<Pair> {
    let url = fresh_database().await?;
    let dir = tempfile::tempdir().unwrap();
    let a = instance(&dir.path().join("a"), &url);
    let b = instance(&dir.path().join("b"), &url);
    Some(Pair { url, dir, a, b })
}

/// A sign-in message for `wallet` on a nonce from `base`, and its signature; or the status
/// that refused the nonce.
async fn signed_message(
    client: &reqwest::Client,
    base: &str,
    wallet: &Wallet,
) -> Result<(String, String), StatusCode> {
    let resp = client
        .get(format!("{base}/api/auth/nonce"))
        .send()
        .await
        .unwrap();
    if resp.status() != StatusCode::OK {
        return Err(resp.status());
    }
    let nonce: serde_json::Value = resp.json().await.unwrap();
    let message = MessageSpec::new(wallet, nonce["nonce"].as_str().unwrap()).render();
    let signature = wallet.sign(&message);
    Ok((message, signature))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_made_on_one_instance_is_valid_on_the_other_until_logged_out_on_either() {
    let Some(Pair {
        url: _,
        dir: _dir,
        a,
        b,
    }) = two_instances().await
    else {
        return;
    };

    let client = cookie_client();
    let body = attempt(&client, &a.base, &Wallet::random()).await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(session_status(&b.base, token).await, StatusCode::OK);

    let logout = client
        .post(a.url("/api/auth/logout"))
        .header("X-CSRF-Token", body["csrfToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success(), "{}", logout.status());
    assert_eq!(
        session_status(&b.base, token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        session_status(&a.base, token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_verifies_of_one_message_across_two_instances_give_exactly_one_session() {
    let Some(Pair {
        url,
        dir: _dir,
        a,
        b,
    }) = two_instances().await
    else {
        return;
    };

    let (message, signature) = signed_message(&reqwest::Client::new(), &a.base, &Wallet::random())
        .await
        .unwrap();
    let requests = (0..40).map(|n| {
        let url = if n % 2 == 0 { a.url("") } else { b.url("") };
        let body = json!({ "message": message, "signature": signature });
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(format!("{url}/api/auth/verify"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.text().await.unwrap())
        })
    });
    let answers: Vec<(StatusCode, String)> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    // The losers are told the nonce is spent, or (a conflict PostgreSQL found) to retry;
    // nothing else, and never a second session.
    for (status, body) in &answers {
        assert!(
            [
                StatusCode::OK,
                StatusCode::UNAUTHORIZED,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(status),
            "{status}: {body}"
        );
    }
    assert_eq!(ok, 1, "{answers:?}");
    // The instances log at debug level, the driver's statements included: never a parameter.
    for server in [&a, &b] {
        assert!(
            !server.logs().contains(&signature[2..]),
            "a signature reached the log"
        );
        assert!(
            !server.logs().contains("with parameters"),
            "{}",
            server.logs()
        );
    }
    let sessions = count_in(&url, "SELECT count(*) FROM sessions", &[]).await;
    assert_eq!(sessions, 1);
}

/// A TCP relay between the server and PostgreSQL that the test can cut (every connection
/// dropped, the port closed) and restore (on the same port).
struct Relay {
    port: u16,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Self {
            port,
            upstream,
            tasks: Default::default(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (upstream, tasks) = (self.upstream.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn while_postgresql_is_unreachable_requests_get_503_and_then_it_recovers_by_itself() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().unwrap();
    let tokio_postgres::config::Host::Tcp(host) = &config.get_hosts()[0] else {
        panic!("TEST_POSTGRES_URL must name a TCP host");
    };
    let relay = Relay::start(format!("{host}:{}", config.get_ports()[0])).await;
    let (server_part, database) = url.rsplit_once('/').unwrap();
    let (scheme_user, _) = server_part.rsplit_once('@').unwrap();
    let relayed = format!("{scheme_user}@127.0.0.1:{}/{database}", relay.port);
    let dir = tempfile::tempdir().unwrap();
    let server = instance(&dir.path().join("a"), &relayed);
    // Counting its rate limits in PostgreSQL: issuing a nonce needs nothing else stored.
    let mut counted = command(&dir.path().join("b"));
    counted
        .env("SIWE_DATABASE__URL", &relayed)
        .env("SIWE_SECURITY__SECRET", common::postgres::SECRET)
        .env("SIWE_RATE_LIMIT__AUTH_PER_MINUTE", "1000")
        .env("SIWE_RATE_LIMIT__SHARED", "true");
    let counted = Server::start_with(counted);
    let nonce = || reqwest::get(counted.url("/api/auth/nonce"));
    assert_eq!(nonce().await.unwrap().status(), StatusCode::OK);
    let client = cookie_client();
    attempt(&client, &server.base, &Wallet::random())
        .await
        .unwrap();

    relay.cut();
    for _ in 0..3 {
        let why = attempt(&client, &server.base, &Wallet::random())
            .await
            .unwrap_err();
        assert!(
            why.starts_with("503") && why.contains("storage_unavailable"),
            "{why}"
        );
    }
    // A limit that cannot be counted refuses the request; it never lets it through uncounted.
    let refused = nonce().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The load balancer is told this instance cannot serve.
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    relay.restore().await;
    let mut recovered = false;
    for _ in 0..50 {
        if attempt(&client, &server.base, &Wallet::random())
            .await
            .is_ok()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "{}", server.logs());
    assert!(
        server.logs().contains("cannot reach PostgreSQL")
            || server.logs().contains("lost the PostgreSQL connection")
    );
}

/// Column name -> (type, not null), and the index names, of every table.
type Schema = BTreeMap<String, (BTreeMap<String, (String, bool)>, Vec<String>)>;

#[tokio::test(flavor = "multi_thread")]
async fn both_engines_have_the_same_tables_columns_keys_and_indexes() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Each binary migrates its empty database on start.
    let path = dir.path().join("sqlite");
    drop(Server::start(&path));
    drop(instance(&dir.path().join("pg"), &url));

    let sqlite = rusqlite::Connection::open(path.join("siwe.db")).unwrap();
    let mut from_sqlite = Schema::new();
    let tables: Vec<String> = sqlite
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for table in tables {
        let mut columns = BTreeMap::new();
        let mut stmt = sqlite
            .prepare(&format!(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
            ))
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)? > 0,
                ))
            })
            .unwrap();
        for row in rows {
            let (name, ty, not_null, key) = row.unwrap();
            let ty = match ty.as_str() {
                "INTEGER" => "bigint",
                "BLOB" => "bytea",
                "TEXT" => "text",
                other => panic!("{table}.{name}: type {other}"),
            };
            // A key column is NOT NULL in PostgreSQL whatever it says in SQLite.
            columns.insert(name, (ty.to_string(), not_null || key));
        }
        let mut indexes: Vec<String> = sqlite
            .prepare(&format!(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = '{table}'
                   AND sql IS NOT NULL"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        indexes.sort();
        from_sqlite.insert(table, (columns, indexes));
    }

    let pg = connect(&url).await;
    let mut from_postgres = Schema::new();
    for row in pg
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
               FROM information_schema.columns
              WHERE table_schema = 'public'
                -- PostgreSQL's own: its schema version, and the signing keys that SQLite
                -- keeps in a file beside the database.
                AND table_name NOT IN ('siwe_schema', 'signing_keys', 'rate_limit_hits')",
            &[],
        )
        .await
        .unwrap()
    {
        let table: String = row.get(0);
        let nullable: String = row.get(3);
        from_postgres
            .entry(table)
            .or_default()
            .0
            .insert(row.get(1), (row.get(2), nullable == "NO"));
    }
    for row in pg
        .query(
            "SELECT tablename::text, indexname::text FROM pg_indexes
              WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'
                AND indexname NOT LIKE '%_key' AND tablename <> 'rate_limit_hits'
              ORDER BY indexname",
            &[],
        )
        .await
        .unwrap()
    {
        let table: String = row.get(0);
        from_postgres.entry(table).or_default().1.push(row.get(1));
    }
    assert_eq!(from_postgres, from_sqlite);
}

async fn jwks(server: &Server) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

#[tokio::test(flavor = "multi_thread")]
async fn every_instance_signs_with_the_database_keys_and_sees_a_rotation() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Both start at once: one stores the first keys, the other takes them.
    let (a, b) = tokio::join!(
        tokio::task::spawn_blocking({
            let (data, url) = (dir.path().join("a"), url.clone());
            move || instance(&data, &url)
        }),
        tokio::task::spawn_blocking({
            let (data, url) = (dir.path().join("b"), url.clone());
            move || instance(&data, &url)
        }),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let before = jwks(&a).await;
    assert_eq!(before.len(), 2, "one key of each algorithm: {before:?}");
    assert_eq!(jwks(&b).await, before);
    // No key file: the keys are in the database only.
    assert!(!dir.path().join("a/jwt-keys.json").exists());
    assert!(!dir.path().join("b/jwt-keys.json").exists());

    // `keys rotate` on any machine with the URL: both instances publish the new keys.
    let rotate = command(&dir.path().join("cli"))
        .env("SIWE_DATABASE__URL", &url)
        .env("SIWE_SECURITY__SECRET", common::postgres::SECRET)
        .args(["keys", "rotate"])
        .stderr(std::process::Stdio::inherit())
        .status()
        .unwrap();
    assert!(rotate.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (on_a, on_b) = (jwks(&a).await, jwks(&b).await);
        if on_a.len() == 4 && on_b == on_a {
            assert!(before.iter().all(|kid| on_a.contains(kid)), "{on_a:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rotation was not seen: {on_a:?} {on_b:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installation_moving_to_postgresql_keeps_its_signing_keys() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let on_sqlite = Server::start(&data);
    let published = jwks(&on_sqlite).await;
    assert!(on_sqlite.terminate().success());

    // Its key file seeds the database's: tokens it signed still verify, the JWKS is unchanged.
    let on_postgres = instance(&data, &url);
    assert_eq!(jwks(&on_postgres).await, published);
    let other = instance(&dir.path().join("other"), &url);
    assert_eq!(jwks(&other).await, published);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_server_at_a_time_has_the_cleanup_turn() {
    use siwe_server::db::{Db, Turn};
    let Some(url) = fresh_database().await else {
        return;
    };
    let (first, second) = (
        Db::open_postgres(&url, 2).await.unwrap(),
        Db::open_postgres(&url, 2).await.unwrap(),
    );
    let (holding, held) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = tokio::spawn(async move {
        first
            .write(move |conn| {
                let turn = conn.take_turn(Turn::Cleanup)?;
                holding.send(()).unwrap();
                let _ = released.recv();
                Ok(turn)
            })
            .await
            .unwrap()
    });
    tokio::task::spawn_blocking(move || held.recv().unwrap())
        .await
        .unwrap();
    let meanwhile = second
        .write(|conn| conn.take_turn(Turn::Cleanup))
        .await
        .unwrap();
    release.send(()).unwrap();
    assert!(holder.await.unwrap(), "the first asks, the first has it");
    assert!(!meanwhile, "not while another server has it");
    let after = second
        .write(|conn| conn.take_turn(Turn::Cleanup))
        .await
        .unwrap();
    assert!(after, "its transaction ended: the turn is free again");
}

/// One sign-in of a new wallet at `base`: its session token, or the status that ended it.
async fn sign_in_through(client: &reqwest::Client, base: &str) -> Result<String, StatusCode> {
    let (message, signature) = signed_message(client, base, &Wallet::random()).await?;
    let resp = client
        .post(format!("{base}/api/auth/verify"))
        .json(&json!({ "message": message, "signature": signature }))
        .send()
        .await
        .unwrap();
    if resp.status() != StatusCode::OK {
        return Err(resp.status());
    }
    let body: serde_json::Value = resp.json().await.unwrap();
    Ok(body["token"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_nginx_one_instance_killed_under_load_loses_no_answered_sign_in() {
    let Some(Pair { url, dir, a, b }) = two_instances().await else {
        return;
    };
    let port = common::nginx::free_port();
    let upstream = |server: &Server| server.base.trim_start_matches("http://").to_string();
    let nginx_dir = dir.path().join("nginx");
    // nginx's defaults: a request that could not reach an instance goes to the other; one
    // that reached it is not sent again (a POST is not idempotent).
    let _nginx = common::nginx::run_nginx(
        &nginx_dir,
        &format!(
            "upstream siwe {{ server {}; server {}; }}
             server {{
                 listen 127.0.0.1:{port};
                 location / {{ proxy_pass http://siwe; }}
             }}",
            upstream(&a),
            upstream(&b)
        ),
        port,
    );
    let base = format!("http://127.0.0.1:{port}");

    // Racing verifies of one message, spread over both instances by nginx: one session.
    let client = reqwest::Client::new();
    let (message, signature) = signed_message(&client, &base, &Wallet::random())
        .await
        .unwrap();
    let racing = (0..20).map(|_| {
        let (client, url) = (client.clone(), format!("{base}/api/auth/verify"));
        let body = json!({ "message": message, "signature": signature });
        async move { client.post(url).json(&body).send().await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(racing).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(won, 1, "{statuses:?}");

    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loads: Vec<_> = (0..6)
        .map(|_| {
            let (base, answered, stop) = (base.clone(), answered.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut tokens, mut failed) = (Vec::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match sign_in_through(&client, &base).await {
                        Ok(token) => {
                            tokens.push(token);
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(status) => failed.push(status),
                    }
                }
                (tokens, failed)
            })
        })
        .collect();
    let wait_for = |n: usize| {
        let answered = answered.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while answered.load(Ordering::Relaxed) < n {
                assert!(std::time::Instant::now() < deadline, "the load stalled");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(60).await;
    a.kill_hard();
    let at_kill = answered.load(Ordering::Relaxed);
    // The other instance keeps serving.
    wait_for(at_kill + 60).await;
    stop.store(true, Ordering::Relaxed);
    let (mut tokens, mut failed) = (Vec::new(), Vec::new());
    for load in loads {
        let (t, f) = load.await.unwrap();
        tokens.extend(t);
        failed.extend(f);
    }
    // Only requests in flight on the killed instance may have failed (nginx answers 502).
    assert!(failed.len() <= 6, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|status| *status == StatusCode::BAD_GATEWAY),
        "{failed:?}"
    );
    // Every answered sign-in holds, whichever instance answered it.
    for token in &tokens {
        assert_eq!(session_status(&b.base, token).await, StatusCode::OK);
    }
    let sessions = count_in(&url, "SELECT count(*) FROM sessions", &[]).await;
    assert!(sessions as usize >= tokens.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_unlinks_on_two_instances_never_leave_an_account_without_a_wallet() {
    let Some(Pair {
        url,
        dir: _dir,
        a,
        b,
    }) = two_instances().await
    else {
        return;
    };
    for _ in 0..5 {
        let (first, second) = (Wallet::random(), Wallet::random());
        let client = cookie_client();
        let body = attempt(&client, &a.base, &first).await.unwrap();
        let csrf = body["csrfToken"].as_str().unwrap().to_string();
        common::process::link(&client, &a.base, &csrf, &second)
            .await
            .unwrap();
        // The session's token works on either instance; each unlinks one of the two wallets.
        let token = body["token"].as_str().unwrap().to_string();
        let unlink = |server: &Server, wallet: &Wallet| {
            let url = server.url(&format!("/api/wallets/{}", wallet.address));
            let token = token.clone();
            async move {
                reqwest::Client::new()
                    .delete(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        let (one, other) = tokio::join!(unlink(&a, &first), unlink(&b, &second));
        let done = [one, other].iter().filter(|s| s.is_success()).count();
        // The other is told the wallet is the account's last (409), never a 500.
        assert_eq!(done, 1, "exactly one unlink goes through: {one} {other}");
        assert!(
            [one, other].contains(&StatusCode::CONFLICT),
            "{one} {other}"
        );
        let user_id = body["user"]["id"].as_str().unwrap();
        let left = count_in(
            &url,
            "SELECT count(*) FROM wallets WHERE user_id = $1",
            &[&user_id],
        )
        .await;
        assert_eq!(left, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_storage_copies_a_running_installation_with_its_sessions_and_keys() {
    use std::os::unix::fs::PermissionsExt;
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    let on_sqlite = Server::start(&old);
    let wallets: Vec<Wallet> = (0..3).map(|_| Wallet::random()).collect();
    let mut signed_in = Vec::new();
    for wallet in &wallets {
        signed_in.push(
            attempt(&cookie_client(), &on_sqlite.base, wallet)
                .await
                .unwrap(),
        );
    }
    let published = jwks(&on_sqlite).await;

    // Copied while the server runs on the file.
    let migrate = |to: &str| {
        std::process::Command::new(common::process::bin())
            .args(["migrate-storage", "--from"])
            .arg(format!("sqlite:{}", old.join("siwe.db").display()))
            .args(["--to", to])
            .env_remove("SIWE_CONFIG")
            .output()
            .unwrap()
    };
    let copied = migrate(&url);
    let said = String::from_utf8_lossy(&copied.stdout).to_string()
        + &String::from_utf8_lossy(&copied.stderr);
    assert!(copied.status.success(), "{said}");
    assert!(
        said.contains("users: 3 rows") && said.contains("sessions: 3 rows"),
        "{said}"
    );
    // Never into a database that holds rows.
    let again = migrate(&url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty"));
    assert!(on_sqlite.terminate().success());

    // Without a secret, an instance on PostgreSQL refuses to start rather than make its own.
    let new = dir.path().join("new");
    let refused = command(&new)
        .env("SIWE_DATABASE__URL", &url)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("security.secret"));

    // With the old installation's secret.key: its sessions, accounts and keys carry on.
    std::fs::create_dir_all(&new).unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(old.join("secret.key"), new.join("secret.key")).unwrap();
    let mut cmd = command(&new);
    cmd.env("SIWE_DATABASE__URL", &url);
    let on_postgres = Server::start_with(cmd);
    for body in &signed_in {
        let token = body["token"].as_str().unwrap();
        assert_eq!(
            session_status(&on_postgres.base, token).await,
            StatusCode::OK
        );
    }
    assert_eq!(jwks(&on_postgres).await, published);
    let again = attempt(&cookie_client(), &on_postgres.base, &wallets[0])
        .await
        .unwrap();
    assert_eq!(again["user"]["id"], signed_in[0]["user"]["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_rate_limits_count_every_instances_requests_together() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let limited = |name: &str, shared: bool| {
        let mut cmd = command(&dir.path().join(name));
        cmd.env("SIWE_DATABASE__URL", &url)
            .env("SIWE_SECURITY__SECRET", common::postgres::SECRET)
            .env("SIWE_RATE_LIMIT__AUTH_PER_MINUTE", "4")
            .env("SIWE_RATE_LIMIT__AUTH_BURST", "4")
            .env("SIWE_RATE_LIMIT__SHARED", shared.to_string());
        Server::start_with(cmd)
    };
    let nonce = |server: &Server| {
        let url = server.url("/api/auth/nonce");
        async move { reqwest::get(url).await.unwrap() }
    };
    // Counts are per clock minute: not so near its end that the next one starts mid-test.
    let into_minute = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_millis()
        % 60_000;
    if into_minute > 50_000 {
        tokio::time::sleep(std::time::Duration::from_millis(
            (60_500 - into_minute) as u64,
        ))
        .await;
    }

    // Each instance alone: 4 each.
    let (a, b) = (limited("a", false), limited("b", false));
    for server in [&a, &b, &a, &b, &a, &b, &a, &b] {
        assert_eq!(nonce(server).await.status(), StatusCode::OK);
    }
    assert_eq!(nonce(&a).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Shared: 4 in all, whichever instance is asked.
    let (c, d) = (limited("c", true), limited("d", true));
    for server in [&c, &d, &c, &d] {
        assert_eq!(nonce(server).await.status(), StatusCode::OK);
    }
    for server in [&c, &d] {
        let refused = nonce(server).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
}
