//! A load generator for SIWE servers: this one or any other that issues nonces and verifies
//! EIP-4361 messages.
//!
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8080 --scenario session \
//!     --connections 64 --duration 10s [--json]
//!
//! Scenarios: `nonce` (GET nonce), `login` (verify pre-signed messages: nonces are fetched and
//! signed before the clock starts, so the generator measures the server, not its own signing;
//! a fresh wallet each, so every sign-in creates an account), `login-returning` (the same, by
//! `--wallets` wallets that each signed in once before the clock starts: every sign-in is to an
//! existing account),
//! `session` and `forward` (GET with a valid cookie), `floor` (GET /healthz: the HTTP floor to
//! compare with), `mixed` (90% session, 9% nonce, 1% login), `oidc` (an OpenID Connect
//! authorization-code flow with the session cookie, two requests, counted as one: `oidc.rs`),
//! `soak` (mixed traffic at a fixed rate for a long time, sampling the server: `soak.rs`).

mod oidc;
mod soak;
mod wallet;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use serde_json::{json, Value};
use wallet::Wallet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Nonce,
    Login,
    LoginReturning,
    Session,
    Forward,
    Floor,
    Mixed,
    Oidc,
    Soak,
}

#[derive(Parser, Debug)]
#[command(about = "Load generator for Sign-In with Ethereum servers")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, value_enum, default_value = "session")]
    scenario: Scenario,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// e.g. 10s, 500ms, 1m
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    #[arg(long, default_value = "/api/auth/nonce")]
    nonce_path: String,
    #[arg(long, default_value = "/api/auth/verify")]
    verify_path: String,
    #[arg(long, default_value = "/api/auth/session")]
    session_path: String,
    #[arg(long, default_value = "/api/auth/forward")]
    forward_path: String,
    #[arg(long, default_value = "/healthz")]
    floor_path: String,
    /// How the nonce comes back: `json:<field>` or `text`.
    #[arg(long, default_value = "json:nonce")]
    nonce_format: String,
    /// Message domain and URI (default: from the nonce response's `domain`/`uri`, else the URL).
    #[arg(long)]
    domain: Option<String>,
    #[arg(long)]
    uri: Option<String>,
    /// Messages to pre-sign for `login`/`mixed` (default: enough for the run at 2,000/s).
    #[arg(long)]
    presign: Option<usize>,
    /// How many wallets `login-returning` signs in with, in turn (each signs in once first).
    #[arg(long, default_value_t = 1000)]
    wallets: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    oidc: oidc::OidcArgs,
    #[command(flatten)]
    soak: soak::SoakArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("bad duration unit in {text:?}")),
    })
}

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let ticks: f64 =
                fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

struct Target {
    args: Args,
    client: reqwest::Client,
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.args.url.trim_end_matches('/'), path)
    }

    async fn nonce(&self) -> anyhow::Result<(String, Option<Value>)> {
        let resp = self
            .client
            .get(self.url(&self.args.nonce_path))
            .send()
            .await?;
        let text = resp.text().await?;
        match self.args.nonce_format.strip_prefix("json:") {
            Some(field) => {
                let body: Value = serde_json::from_str(&text)?;
                let nonce = body[field]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("no {field} in {text}"))?
                    .to_string();
                Ok((nonce, Some(body)))
            }
            None => Ok((text.trim().to_string(), None)),
        }
    }

    /// A signed message on a fresh nonce with a fresh key.
    async fn signed_login(&self) -> anyhow::Result<Value> {
        self.signed_login_by(Wallet::random()).await
    }

    /// A signed sign-in message of `wallet` on a fresh nonce.
    async fn signed_login_by(&self, wallet: Wallet) -> anyhow::Result<Value> {
        let (nonce, body) = self.nonce().await?;
        let message = self.login_message(&nonce, body.as_ref(), &wallet.address)?;
        tokio::task::spawn_blocking(move || {
            let signature = wallet.sign(&message)?;
            Ok(json!({ "message": message, "signature": signature }))
        })
        .await?
    }

    /// Verifies `login` once, untimed (a warm-up), and fails unless it signed in.
    async fn sign_in_once(&self, login: &Value) -> anyhow::Result<()> {
        let resp = self
            .client
            .post(self.url(&self.args.verify_path))
            .json(login)
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "warm-up sign-in failed: {}",
            resp.text().await?
        );
        Ok(())
    }

    /// The sign-in message of `address` on `nonce`; `body` is the nonce response, whose
    /// `domain` and `uri` are used unless given on the command line.
    fn login_message(
        &self,
        nonce: &str,
        body: Option<&Value>,
        address: &str,
    ) -> anyhow::Result<String> {
        let default_host = self
            .args
            .url
            .split("://")
            .nth(1)
            .unwrap_or("localhost")
            .trim_end_matches('/')
            .to_string();
        let domain = self
            .args
            .domain
            .clone()
            .or_else(|| body?["domain"].as_str().map(str::to_string))
            .unwrap_or(default_host);
        let uri = self
            .args
            .uri
            .clone()
            .or_else(|| body?["uri"].as_str().map(str::to_string))
            .unwrap_or_else(|| self.args.url.clone());
        let issued = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?;
        Ok(format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nLoad test.\n\n\
             URI: {uri}\nVersion: 1\nChain ID: 1\nNonce: {nonce}\nIssued At: {issued}"
        ))
    }
}

/// `count` sign-in messages, the `i`th signed by `wallet(i)`, each on a fresh nonce.
async fn presign(
    target: &Arc<Target>,
    count: usize,
    wallet: impl Fn(usize) -> Wallet,
) -> anyhow::Result<Vec<Value>> {
    let wallets: Vec<Wallet> = (0..count).map(wallet).collect();
    in_flight(target, wallets, |t, wallet| async move {
        t.signed_login_by(wallet).await
    })
    .await
}

/// `each` over `items`, with no more requests in flight than the run itself will use.
async fn in_flight<I, T, F, Fut>(
    target: &Arc<Target>,
    items: Vec<I>,
    each: F,
) -> anyhow::Result<Vec<T>>
where
    F: Fn(Arc<Target>, I) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    use futures_util::StreamExt;
    let results: Vec<anyhow::Result<T>> = futures_util::stream::iter(items)
        .map(|item| each(Arc::clone(target), item))
        .buffer_unordered(target.args.connections)
        .collect()
        .await;
    results.into_iter().collect()
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

impl Stats {
    /// One answered request (or flow) sent at `sent`.
    fn record(&mut self, status: u16, sent: Instant) {
        self.latencies_us
            .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
        *self.statuses.entry(status).or_default() += 1;
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        // The soak's sessions are bearer tokens, each request its own.
        .cookie_store(args.scenario != Scenario::Soak)
        // The oidc scenario reads the code from the authorize redirect.
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let flow = Arc::new(oidc::Flow::new(&args.url, args.oidc.clone()));
    let target = Arc::new(Target { args, client });
    let scenario = target.args.scenario;
    if scenario == Scenario::Soak {
        return soak::run(target).await;
    }

    // Warm-up: a signed-in cookie for session checks, and pre-signed logins.
    if matches!(
        scenario,
        Scenario::Session | Scenario::Forward | Scenario::Mixed | Scenario::Oidc
    ) {
        let login = target.signed_login().await?;
        target.sign_in_once(&login).await?;
    }
    // Returning wallets: each signs in once now, so that the timed sign-ins find its account.
    let returning: Arc<Vec<Wallet>> = Arc::new(if scenario == Scenario::LoginReturning {
        let wallets: Vec<Wallet> = (0..target.args.wallets.max(1))
            .map(|_| Wallet::random())
            .collect();
        eprintln!("signing in {} wallets once...", wallets.len());
        let firsts = presign(&target, wallets.len(), |i| wallets[i].clone()).await?;
        in_flight(&target, firsts, |t, login| async move {
            t.sign_in_once(&login).await
        })
        .await?;
        wallets
    } else {
        Vec::new()
    });
    let logins: Arc<Vec<Value>> = Arc::new(
        if matches!(
            scenario,
            Scenario::Login | Scenario::LoginReturning | Scenario::Mixed
        ) {
            let wanted = target.args.presign.unwrap_or_else(|| {
                let per_sec = if scenario == Scenario::Mixed {
                    200
                } else {
                    2000
                };
                (target.args.duration.as_secs_f64() * per_sec as f64) as usize + 100
            });
            eprintln!("pre-signing {wanted} logins...");
            match returning.len() {
                0 => presign(&target, wanted, |_| Wallet::random()).await?,
                n => presign(&target, wanted, |i| returning[i % n].clone()).await?,
            }
        } else {
            Vec::new()
        },
    );
    let next_login = Arc::new(AtomicUsize::new(0));

    eprintln!("running for {:.1} s...", target.args.duration.as_secs_f64());
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let deadline = started + target.args.duration;
    let mut workers = Vec::new();
    for worker in 0..target.args.connections {
        let (t, logins, next_login, flow) = (
            Arc::clone(&target),
            Arc::clone(&logins),
            Arc::clone(&next_login),
            Arc::clone(&flow),
        );
        workers.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut i = worker;
            while Instant::now() < deadline {
                i += 1;
                let pick = match scenario {
                    Scenario::Mixed => match i % 100 {
                        0 => Scenario::Login,
                        1..=9 => Scenario::Nonce,
                        _ => Scenario::Session,
                    },
                    s => s,
                };
                if pick == Scenario::Oidc {
                    let sent = Instant::now();
                    match flow.run(&t.client, i).await {
                        Ok(status) => stats.record(status, sent),
                        Err(_) => stats.errors += 1,
                    }
                    continue;
                }
                let request = match pick {
                    Scenario::Nonce => t.client.get(t.url(&t.args.nonce_path)),
                    Scenario::Session => t.client.get(t.url(&t.args.session_path)),
                    Scenario::Forward => t.client.get(t.url(&t.args.forward_path)),
                    Scenario::Floor => t.client.get(t.url(&t.args.floor_path)),
                    Scenario::Oidc | Scenario::Soak => unreachable!("measured elsewhere"),
                    Scenario::Login | Scenario::LoginReturning | Scenario::Mixed => {
                        let n = next_login.fetch_add(1, Ordering::Relaxed);
                        match logins.get(n) {
                            Some(body) => t.client.post(t.url(&t.args.verify_path)).json(body),
                            None => break, // ran out of pre-signed logins
                        }
                    }
                };
                let sent = Instant::now();
                match request.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let _ = resp.bytes().await;
                        stats.record(status, sent);
                    }
                    Err(_) => stats.errors += 1,
                }
            }
            stats
        }));
    }
    let mut all = Stats::default();
    for worker in workers {
        let stats = worker.await?;
        all.latencies_us.extend(stats.latencies_us);
        for (status, n) in stats.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
        all.errors += stats.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    all.latencies_us.sort_unstable();
    let lat = &all.latencies_us;
    let report = json!({
        "scenario": format!("{scenario:?}").to_lowercase(),
        "connections": target.args.connections,
        "seconds": elapsed,
        "requests": lat.len(),
        "requests_per_sec": lat.len() as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(lat, 0.50),
            "p90": percentile(lat, 0.90),
            "p99": percentile(lat, 0.99),
            "max": lat.last().map_or(0.0, |v| f64::from(*v) / 1000.0),
        },
        "statuses": all.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "errors": all.errors,
        "generator_cpu_seconds": cpu,
        "generator_cpu_share_of_one_core": cpu / elapsed,
    });
    if target.args.json {
        println!("{report}");
    } else {
        println!(
            "scenario      {}",
            report["scenario"].as_str().unwrap_or_default()
        );
        println!("connections   {}", target.args.connections);
        println!("requests      {} in {:.1} s", lat.len(), elapsed);
        println!(
            "throughput    {:.0} req/s",
            report["requests_per_sec"].as_f64().unwrap_or(0.0)
        );
        println!(
            "latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            percentile(lat, 0.5),
            percentile(lat, 0.9),
            percentile(lat, 0.99),
            report["latency_ms"]["max"].as_f64().unwrap_or(0.0)
        );
        println!("statuses      {:?}  errors {}", all.statuses, all.errors);
        println!(
            "generator cpu {:.1} s ({:.0}% of one core)",
            cpu,
            100.0 * cpu / elapsed
        );
    }
    Ok(())
}
