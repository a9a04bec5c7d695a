//! The `soak` scenario: mixed traffic at a fixed rate for a long time, open loop (each action
//! starts on schedule, whether or not earlier ones have been answered), sampling the server's
//! memory, open files, database and WAL size and each interval's latency, so that growth shows.
//! Actions: sign-ins with new and with returning wallets, session and forward-auth checks with
//! their bearer tokens, nonces never used, a wallet linked and unlinked, sign-outs. Every answer
//! that is not a success is a failure: counted by request and status, the first few printed.

use std::{
    collections::{BTreeMap, VecDeque},
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{parse_duration, percentile, wallet::Wallet, Target};

#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    /// soak: requests per second, every kind together (`--duration` is the load's length).
    #[arg(long, default_value_t = 300.0)]
    pub rate: f64,
    /// soak: time between two samples.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub sample_every: Duration,
    /// soak: one row of the summary table per this long.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub row_every: Duration,
    /// soak: after the load, go on sampling this long (until the clean-up has run).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub settle: Duration,
    /// soak: how long a session is used after its sign-in: keep it below the server's session
    /// lifetime and re-authentication window (links need a recent signature).
    #[arg(long, default_value = "100s", value_parser = parse_duration)]
    pub session_reuse: Duration,
    /// soak: the server's process id, for its RSS and open file descriptors.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// soak: the server's SQLite file, for its size, its WAL's, and its row counts.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// soak: a file for the samples, one JSON object a line.
    #[arg(long)]
    pub samples: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Session,
    Forward,
    UnusedNonce,
    NewSignIn,
    ReturningSignIn,
    LinkAndUnlink,
    SignOut,
}

/// Actions per 100, and the requests each makes: 122 requests per 100 actions.
const MIX: [(Action, u32, u32); 7] = [
    (Action::Session, 50, 1),
    (Action::Forward, 20, 1),
    (Action::UnusedNonce, 8, 1),
    (Action::NewSignIn, 4, 2),
    (Action::ReturningSignIn, 12, 2),
    (Action::LinkAndUnlink, 3, 3),
    (Action::SignOut, 3, 1),
];

/// Wallets kept for returning sign-ins.
const RETURNING_WALLETS: usize = 5000;
/// Failures printed as they happen (all are counted).
const FAILURES_PRINTED: u64 = 20;

/// What the requests of one interval did.
#[derive(Default)]
struct Window {
    latencies_us: Vec<u32>,
    failures: u64,
    skipped: u64,
}

/// The whole run's counts: requests by kind, failures by kind and status.
#[derive(Default)]
struct Totals {
    requests: BTreeMap<&'static str, u64>,
    failures: BTreeMap<String, u64>,
}

struct Soak {
    target: Arc<Target>,
    args: SoakArgs,
    /// Bearer tokens of live sessions, oldest first, with when they were opened.
    sessions: Mutex<VecDeque<(String, Instant)>>,
    returning: Mutex<Vec<Wallet>>,
    window: Mutex<Window>,
    totals: Mutex<Totals>,
}

impl Soak {
    /// Sends one request of kind `what`; its JSON body when it succeeded, or `None` after
    /// counting the failure.
    async fn call(&self, what: &'static str, request: reqwest::RequestBuilder) -> Option<Value> {
        let sent = Instant::now();
        let answer = match request.send().await {
            Ok(resp) => {
                let status = resp.status();
                resp.bytes().await.map(|body| (status, body))
            }
            Err(err) => Err(err),
        };
        let latency = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        *lock(&self.totals).requests.entry(what).or_default() += 1;
        let failure = match &answer {
            Ok((status, _)) if status.is_success() => None,
            Ok((status, body)) => Some((
                status.as_u16().to_string(),
                String::from_utf8_lossy(body).chars().take(200).collect(),
            )),
            Err(err) => Some(("transport".to_string(), err.to_string())),
        };
        let mut window = lock(&self.window);
        window.latencies_us.push(latency);
        match failure {
            None => {
                drop(window);
                let (_, body) = answer.ok()?;
                Some(serde_json::from_slice(&body).unwrap_or(Value::Null))
            }
            Some((status, detail)) => {
                window.failures += 1;
                drop(window);
                let mut totals = lock(&self.totals);
                let seen: u64 = totals.failures.values().sum();
                *totals
                    .failures
                    .entry(format!("{what} {status}"))
                    .or_default() += 1;
                if seen < FAILURES_PRINTED {
                    eprintln!("failure: {what} {status}: {detail}");
                }
                None
            }
        }
    }

    /// A live session's token and when it was opened (dropping those past `session_reuse`);
    /// `take` removes it, so that no sign-out ends it while a link is using it.
    fn session(&self, take: bool) -> Option<(String, Instant)> {
        let mut sessions = lock(&self.sessions);
        while sessions
            .front()
            .is_some_and(|(_, at)| at.elapsed() > self.args.session_reuse)
        {
            sessions.pop_front();
        }
        if sessions.is_empty() {
            return None;
        }
        let i = rand::random_range(0..sessions.len());
        if take {
            sessions.remove(i)
        } else {
            sessions.get(i).cloned()
        }
    }

    /// Gives back a session that `session(true)` took, in its place by age.
    fn give_back(&self, session: (String, Instant)) {
        let mut sessions = lock(&self.sessions);
        let i = sessions.partition_point(|(_, at)| *at <= session.1);
        sessions.insert(i, session);
    }

    /// Nonce, then verify a message signed by `wallet`; keeps the session's token, and a new
    /// wallet for returning sign-ins.
    async fn sign_in(&self, wallet: Wallet, returning: bool) -> Option<()> {
        let t = &self.target;
        let body = self
            .call("nonce", t.client.get(t.url(&t.args.nonce_path)))
            .await?;
        let nonce = body["nonce"].as_str()?.to_string();
        let message = t.login_message(&nonce, Some(&body), &wallet.address).ok()?;
        let (signature, wallet) = signed(wallet, message.clone()).await?;
        let verify = t
            .client
            .post(t.url(&t.args.verify_path))
            .json(&json!({ "message": message, "signature": signature }));
        let answer = self.call("verify", verify).await?;
        let token = answer["token"].as_str()?.to_string();
        lock(&self.sessions).push_back((token, Instant::now()));
        let mut wallets = lock(&self.returning);
        if !returning && wallets.len() < RETURNING_WALLETS {
            wallets.push(wallet);
        }
        Some(())
    }

    /// A new wallet linked to a live session's account (challenge, link), then unlinked.
    async fn link_and_unlink(&self, token: &str) -> Option<()> {
        let t = &self.target;
        let wallet = Wallet::random();
        let challenge = t
            .client
            .post(t.url("/api/wallets/challenge"))
            .json(&json!({ "address": wallet.address }));
        let body = self.call("challenge", challenge.bearer_auth(token)).await?;
        let message = body["message"].as_str()?.to_string();
        let (signature, wallet) = signed(wallet, message.clone()).await?;
        let link = t
            .client
            .post(t.url("/api/wallets"))
            .json(&json!({ "message": message, "signature": signature }));
        self.call("link", link.bearer_auth(token)).await?;
        let unlink = t
            .client
            .delete(t.url(&format!("/api/wallets/{}", wallet.address)));
        self.call("unlink", unlink.bearer_auth(token)).await?;
        Some(())
    }

    async fn act(self: Arc<Self>, action: Action) {
        let t = &self.target;
        // Actions on a session sign in first while there is none yet.
        let needs_session = matches!(
            action,
            Action::Session | Action::Forward | Action::LinkAndUnlink | Action::SignOut
        );
        let take = matches!(action, Action::SignOut | Action::LinkAndUnlink);
        let session = match needs_session {
            true => match self.session(take) {
                Some(session) => Some(session),
                None => {
                    self.sign_in(Wallet::random(), false).await;
                    return;
                }
            },
            false => None,
        };
        let token = session.as_ref().map_or("", |(token, _)| token.as_str());
        match action {
            Action::Session => {
                let get = t.client.get(t.url(&t.args.session_path));
                self.call("session", get.bearer_auth(token)).await;
            }
            Action::Forward => {
                let get = t.client.get(t.url(&t.args.forward_path));
                self.call("forward", get.bearer_auth(token)).await;
            }
            Action::UnusedNonce => {
                self.call("nonce", t.client.get(t.url(&t.args.nonce_path)))
                    .await;
            }
            Action::NewSignIn => {
                self.sign_in(Wallet::random(), false).await;
            }
            Action::ReturningSignIn => {
                let wallet = {
                    let returning = lock(&self.returning);
                    match returning.len() {
                        0 => None,
                        n => returning.get(rand::random_range(0..n)).cloned(),
                    }
                };
                match wallet {
                    Some(wallet) => self.sign_in(wallet, true).await,
                    None => self.sign_in(Wallet::random(), false).await,
                };
            }
            Action::LinkAndUnlink => {
                self.link_and_unlink(token).await;
                if let Some(session) = session {
                    self.give_back(session);
                }
            }
            Action::SignOut => {
                let post = t.client.post(t.url("/api/auth/logout"));
                self.call("logout", post.bearer_auth(token)).await;
            }
        }
    }
}

/// The mutex's value; a panicked holder cannot leave these counters half-updated.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Signs off the async threads; gives the wallet back for reuse.
async fn signed(wallet: Wallet, message: String) -> Option<(String, Wallet)> {
    tokio::task::spawn_blocking(move || wallet.sign(&message).ok().map(|sig| (sig, wallet)))
        .await
        .ok()
        .flatten()
}

fn pick() -> Action {
    let mut roll = rand::random_range(0..100);
    for (action, weight, _) in MIX {
        if roll < weight {
            return action;
        }
        roll -= weight;
    }
    Action::Session
}

/// Starts actions on schedule until `deadline`, at most `cap` at once (past it, an action is
/// skipped and counted: the server is not keeping up), then waits for those in flight.
async fn schedule(soak: Arc<Soak>, deadline: Instant, cap: usize) {
    let requests_per_action = MIX.iter().map(|(_, w, n)| f64::from(w * n)).sum::<f64>() / 100.0;
    let period = Duration::from_secs_f64(requests_per_action / soak.args.rate);
    let mut ticker = tokio::time::interval(period);
    let mut running = tokio::task::JoinSet::new();
    while Instant::now() < deadline {
        ticker.tick().await;
        while running.try_join_next().is_some() {}
        if running.len() >= cap {
            lock(&soak.window).skipped += 1;
            continue;
        }
        running.spawn(Arc::clone(&soak).act(pick()));
    }
    while running.join_next().await.is_some() {}
}

/// One sample of the server and of the requests since the previous one.
fn sample(soak: &Soak, started: Instant, phase: &str, since: Instant) -> (Value, Vec<u32>) {
    let window = std::mem::take(&mut *lock(&soak.window));
    let mut lat = window.latencies_us;
    lat.sort_unstable();
    let args = &soak.args;
    let proc_file = |name: &str| args.server_pid.map(|pid| format!("/proc/{pid}/{name}"));
    let rss_mb = proc_file("status")
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb / 1024.0)
        });
    let fds = proc_file("fd")
        .and_then(|path| std::fs::read_dir(path).ok())
        .map(Iterator::count);
    let mb = |suffix: &str| {
        let path = args.db.as_ref()?;
        let path = format!("{}{suffix}", path.display());
        Some(std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6))
    };
    let seconds = since.elapsed().as_secs_f64();
    let line = json!({
        "t": started.elapsed().as_secs_f64().round(),
        "phase": phase,
        "requests": lat.len(),
        "requests_per_sec": lat.len() as f64 / seconds,
        "failures": window.failures,
        "skipped": window.skipped,
        "p50_ms": percentile(&lat, 0.50),
        "p99_ms": percentile(&lat, 0.99),
        "max_ms": lat.last().map_or(0.0, |v| f64::from(*v) / 1000.0),
        "rss_mb": rss_mb,
        "fds": fds,
        "db_mb": mb(""),
        "wal_mb": mb("-wal"),
        "rows": args.db.as_ref().map(|db| database_counts(db)),
    });
    (line, lat)
}

/// Rows of the tables that the run fills and the clean-up empties, and free pages; a field is
/// null when that table is not there (another server).
fn database_counts(db: &std::path::Path) -> Value {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Value::Null;
    };
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).ok();
    let mut rows = serde_json::Map::new();
    for table in [
        "sessions",
        "spent_nonces",
        "users",
        "wallets",
        "security_events",
    ] {
        rows.insert(
            table.into(),
            json!(count(&format!("SELECT count(*) FROM {table}"))),
        );
    }
    rows.insert("free_pages".into(), json!(count("PRAGMA freelist_count")));
    Value::Object(rows)
}

/// A row of the summary: the last sample of a stretch, with the stretch's latency.
fn row(label: String, last: &Value, lat: &mut [u32], failures: u64, seconds: f64) -> String {
    lat.sort_unstable();
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.1}"));
    let rows = &last["rows"];
    let int = |v: &Value| v.as_i64().map_or("-".to_string(), |x| x.to_string());
    format!(
        "| {label} | {:.0} | {failures} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        lat.len() as f64 / seconds,
        percentile(lat, 0.50),
        percentile(lat, 0.99),
        num(&last["rss_mb"]),
        int(&last["fds"]),
        num(&last["wal_mb"]),
        num(&last["db_mb"]),
        int(&rows["free_pages"]),
        int(&rows["sessions"]),
        int(&rows["spent_nonces"]),
        int(&rows["users"]),
        int(&rows["wallets"]),
        int(&rows["security_events"]),
    )
}

fn minutes(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

pub async fn run(target: Arc<Target>) -> anyhow::Result<()> {
    let args = target.args.soak.clone();
    let duration = target.args.duration;
    let cap = target.args.connections;
    let mut samples = match &args.samples {
        Some(path) => Some(std::fs::File::create(path)?),
        None => None,
    };
    let soak = Arc::new(Soak {
        target,
        args: args.clone(),
        sessions: Mutex::default(),
        returning: Mutex::default(),
        window: Mutex::default(),
        totals: Mutex::default(),
    });
    eprintln!(
        "soak: {:.0} requests/s for {:.0} s, then {:.0} s without load",
        args.rate,
        duration.as_secs_f64(),
        args.settle.as_secs_f64()
    );
    let started = Instant::now();
    let mut load = tokio::spawn(schedule(Arc::clone(&soak), started + duration, cap));
    let mut ticker =
        tokio::time::interval_at((started + args.sample_every).into(), args.sample_every);
    let mut table = Vec::new();
    let (mut previous, mut row_started) = (started, started);
    let (mut row_lat, mut row_failures) = (Vec::new(), 0);
    let mut next_row = args.row_every;
    let mut loaded = true;
    let settle_end = started + duration + args.settle;
    loop {
        let phase = tokio::select! {
            _ = ticker.tick() => if loaded { "load" } else { "settle" },
            done = &mut load, if loaded => {
                done?;
                loaded = false;
                "load end"
            }
        };
        let (line, lat) = sample(&soak, started, phase, previous);
        previous = Instant::now();
        if let Some(file) = samples.as_mut() {
            writeln!(file, "{line}")?;
        }
        let num = |key: &str| line[key].as_f64().unwrap_or_default();
        eprintln!(
            "{} {phase}: {:.0} req/s, p99 {:.2} ms, failures {}, rss {:.1} MB, fds {}, wal {:.1} MB, db {:.1} MB",
            minutes(num("t")),
            num("requests_per_sec"),
            num("p99_ms"),
            line["failures"],
            num("rss_mb"),
            line["fds"],
            num("wal_mb"),
            num("db_mb"),
        );
        row_lat.extend(lat);
        row_failures += line["failures"].as_u64().unwrap_or_default();
        let done = !loaded && Instant::now() >= settle_end;
        let first = table.is_empty();
        if first || started.elapsed() >= next_row || phase == "load end" || done {
            let label = match phase {
                "load" if first => format!("first {}", minutes(started.elapsed().as_secs_f64())),
                "settle" => format!("{} (no load)", minutes(started.elapsed().as_secs_f64())),
                _ => format!("{} {phase}", minutes(started.elapsed().as_secs_f64())),
            };
            let seconds = row_started.elapsed().as_secs_f64();
            table.push(row(label, &line, &mut row_lat, row_failures, seconds));
            (row_lat, row_failures, row_started) = (Vec::new(), 0, Instant::now());
            while started.elapsed() >= next_row {
                next_row += args.row_every;
            }
        }
        if done || (!loaded && args.settle.is_zero()) {
            break;
        }
    }
    println!("| time (m:s) | req/s | failures | p50 ms | p99 ms | RSS MB | fds | WAL MB | DB MB | free pages | sessions | spent nonces | users | wallets | events |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for line in &table {
        println!("{line}");
    }
    let totals = lock(&soak.totals);
    println!();
    println!("requests: {:?}", totals.requests);
    println!("failures: {:?}", totals.failures);
    Ok(())
}
