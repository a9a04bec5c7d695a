//! SIGHUP through the real binary: the config file is read again and rate limits, forward-auth
//! rules, trusted proxies and CORS origins change for the next requests, on connections that
//! stay open; a file that does not load keeps the running configuration and the log names the
//! key; a changed key that needs a restart is named and left as it runs. Each test waits for
//! the reload's log line, never a fixed time.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::{process::*, *};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

/// The binary on `data` with `config` as its config file; the harness's own rate-limit
/// variable is removed, so the file decides.
fn start(data: &Path, config: &Path) -> Server {
    let mut cmd = command(data);
    cmd.env_remove("SIWE_RATE_LIMIT__AUTH_PER_MINUTE")
        .arg("--config")
        .arg(config);
    Server::start_with(cmd)
}

/// The JSON log lines the reloads wrote: reloaded, refused, or keys left for a restart.
fn reload_lines(server: &Server) -> Vec<Value> {
    server
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| {
            let message = entry["fields"]["message"].as_str().unwrap_or_default();
            message == "configuration reloaded" || message.starts_with("reload refused")
        })
        .collect()
}

/// Writes `toml` to `config`, sends SIGHUP, and returns the log line of that reload (once it
/// is written) with every log line written meanwhile.
fn reload(server: &Server, config: &Path, toml: &str) -> (Value, String) {
    std::fs::write(config, toml).unwrap();
    let before = reload_lines(server).len();
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = reload_lines(server).get(before) {
            return (line.clone(), server.logs());
        }
        assert!(
            Instant::now() < deadline,
            "no reload logged: {}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 connection kept alive across requests (a reset fails the test).
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(server: &Server) -> Self {
        let stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    /// `GET path` on this connection: the status and the body.
    fn get(&mut self, path: &str) -> (u16, String) {
        self.get_with(path, "")
    }

    /// `GET path` with more header lines (each ending in CRLF).
    fn get_with(&mut self, path: &str, headers: &str) -> (u16, String) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost:8080\r\n{headers}\r\n");
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {status_line:?}"));
        let mut length = None;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            assert!(!name.eq_ignore_ascii_case("connection") || !value.contains("close"));
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.expect("a content-length")];
        self.reader.read_exact(&mut body).unwrap();
        (status, String::from_utf8(body).unwrap())
    }
}

#[test]
fn a_lowered_rate_limit_applies_on_a_connection_open_across_the_reload() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.toml");
    let generous = "[rate_limit]\nauth_per_minute = 600\nauth_burst = 100\n";
    std::fs::write(&config, generous).unwrap();
    let server = start(&dir.path().join("data"), &config);
    let mut conn = Connection::open(&server);
    for _ in 0..3 {
        assert_eq!(conn.get("/api/auth/nonce").0, 200);
    }

    let lowered = "[rate_limit]\nauth_per_minute = 1\nauth_burst = 2\n\n\
                   [ui]\napp_name = \"Renamed\"\n\n\
                   [email]\nsmtp_password = \"never-in-the-log\"\n";
    let (line, logs) = reload(&server, &config, lowered);
    assert_eq!(
        line["fields"]["message"], "configuration reloaded",
        "{logs}"
    );
    assert_eq!(
        line["fields"]["changed"],
        "email.smtp_password, rate_limit.auth_burst, rate_limit.auth_per_minute"
    );
    assert!(!logs.contains("never-in-the-log"), "a secret was logged");
    // ui.app_name needs a restart: named at warn, and the pages keep the old name.
    assert!(
        logs.lines().any(|l| l.contains("\"WARN\"")
            && l.contains("need a restart")
            && l.contains("ui.app_name")),
        "{logs}"
    );

    // The same connection: a new quota counts afresh, and its burst is 2.
    assert_eq!(conn.get("/api/auth/nonce").0, 200);
    assert_eq!(conn.get("/api/auth/nonce").0, 200);
    let (status, body) = conn.get("/api/auth/nonce");
    assert_eq!(status, 429, "{body}");
    let (status, body) = conn.get("/api/config");
    assert_eq!(status, 200);
    assert!(!body.contains("Renamed"), "{body}");
}

/// `GET /api/auth/forward` as a proxy asks it for `host`, with the session's bearer token.
async fn forward(server: &Server, token: &str, host: &str) -> StatusCode {
    Client::new()
        .get(server.url("/api/auth/forward?redirect=false"))
        .bearer_auth(token)
        .header("x-forwarded-host", host)
        .send()
        .await
        .unwrap()
        .status()
}

/// Whether an answer to `origin` carries CORS headers.
async fn cors_allows(server: &Server, origin: &str) -> bool {
    Client::new()
        .get(server.url("/api/config"))
        .header("origin", origin)
        .send()
        .await
        .unwrap()
        .headers()
        .get("access-control-allow-origin")
        .is_some_and(|v| v == origin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_rules_trusted_proxies_and_origins_change_on_sighup() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let server = start(&dir.path().join("data"), &config);
    let (me, other) = (Wallet::random(), Wallet::random());
    let token = sign_in(&server.base, &me).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let app = "https://app.example.org";
    assert_eq!(
        forward(&server, &token, "admin.example.org").await,
        StatusCode::OK
    );
    assert!(!cors_allows(&server, app).await);

    // A rule for admin.example.org, for another wallet; the proxy is not trusted yet, so no
    // host it names is believed, and every host is refused while rules exist.
    let rule_for_other = format!(
        "[cors]\nallowed_origins = [\"{app}\"]\n\n[[forward_auth.rules]]\n\
         host = \"admin.example.org\"\naddresses = [\"{}\"]\n",
        other.address
    );
    let (line, logs) = reload(&server, &config, &rule_for_other);
    assert_eq!(
        line["fields"]["message"], "configuration reloaded",
        "{logs}"
    );
    assert_eq!(
        line["fields"]["changed"],
        "cors.allowed_origins, forward_auth.rules"
    );
    assert!(
        logs.contains("forward_auth.rules are set but server.trusted_proxies is empty"),
        "the start-up warning holds for reloads too: {logs}"
    );
    assert_eq!(
        forward(&server, &token, "admin.example.org").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        forward(&server, &token, "wiki.example.org").await,
        StatusCode::FORBIDDEN
    );
    assert!(cors_allows(&server, app).await);

    // The proxy trusted: the host it names is believed; the rule covers admin only.
    let trusted = format!("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n\n{rule_for_other}");
    let (line, logs) = reload(&server, &config, &trusted);
    assert_eq!(
        line["fields"]["changed"], "server.trusted_proxies",
        "{logs}"
    );
    assert_eq!(
        forward(&server, &token, "wiki.example.org").await,
        StatusCode::OK
    );
    assert_eq!(
        forward(&server, &token, "admin.example.org").await,
        StatusCode::FORBIDDEN
    );
    let (_, logs) = reload(&server, &config, "");
    assert_eq!(
        forward(&server, &token, "admin.example.org").await,
        StatusCode::OK,
        "{logs}"
    );
    assert!(!cors_allows(&server, app).await);
}

#[test]
fn an_invalid_file_keeps_the_running_configuration_and_names_the_key() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.toml");
    let strict = format!("[rate_limit]\nauth_per_minute = 1\nauth_burst = 3\n\n{METRICS}");
    std::fs::write(&config, &strict).unwrap();
    let server = start(&dir.path().join("data"), &config);
    let mut conn = Connection::open(&server);
    assert_eq!(conn.get("/api/auth/nonce").0, 200);
    assert_eq!(conn.get("/api/auth/nonce").0, 200);

    let bad_cidr = "[rate_limit]\nauth_per_minute = 600\nauth_burst = 100\n\n\
                    [server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n";
    let (line, logs) = reload(&server, &config, bad_cidr);
    let message = line["fields"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("reload refused: server.trusted_proxies: "),
        "{logs}"
    );
    assert!(message.contains("10.0.0.0/33"), "{message}");
    let (line, logs) = reload(&server, &config, "[rate_limit\nauth_burst = 100\n");
    assert!(
        line["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("reload refused: "),
        "{logs}"
    );

    // The old limit, with its count: one more, then refused.
    assert_eq!(conn.get("/api/auth/nonce").0, 200);
    assert_eq!(conn.get("/api/auth/nonce").0, 429);
    let bearer = format!("Authorization: Bearer {METRICS_TOKEN}\r\n");
    let (_, metrics) = conn.get_with("/metrics", &bearer);
    assert!(
        metrics.contains("siwe_config_reloads_total{result=\"refused\"} 2"),
        "{metrics}"
    );
    assert!(!metrics.contains("result=\"applied\""), "{metrics}");
}

const METRICS_TOKEN: &str = "reload-test-metrics-token";
/// /metrics on the main listener, behind [`METRICS_TOKEN`].
const METRICS: &str = "[metrics]\ntoken = \"reload-test-metrics-token\"\n";

/// `[email]` sending to the SMTP server on `port` as `from`, with more lines after it.
fn email_section(port: u16, from: &str, more: &str) -> String {
    format!(
        "[email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsmtp_tls = \"none\"\n\
         from = \"{from}\"\n{more}"
    )
}

/// Sets the account's email (`PUT /api/account`), which mails a verification link.
async fn set_email(server: &Server, token: &str, email: &str) {
    let resp = Client::new()
        .put(server.url("/api/account"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_email_goes_through_the_reloaded_smtp_server() {
    let dir = TempDir::new().unwrap();
    let (first, second) = (
        common::smtp::SmtpSink::start(&dir.path().join("first")),
        common::smtp::SmtpSink::start(&dir.path().join("second")),
    );
    let config = dir.path().join("config.toml");
    let from = "Sign-in <login@example.org>";
    std::fs::write(&config, email_section(first.port, from, "")).unwrap();
    let server = start(&dir.path().join("data"), &config);
    let token = sign_in(&server.base, &Wallet::random()).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    set_email(&server, &token, "ada@example.org").await;
    assert!(first
        .message(1)
        .await
        .contains("From: Sign-in <login@example.org>"));

    // Another server and sender; link_ttl_secs needs a restart and is named.
    let moved = email_section(
        second.port,
        "Accounts <accounts@example.org>",
        "link_ttl_secs = 600\n",
    );
    let (line, logs) = reload(&server, &config, &moved);
    assert_eq!(
        line["fields"]["changed"], "email.from, email.smtp_port",
        "{logs}"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("need a restart") && l.contains("email.link_ttl_secs")),
        "{logs}"
    );
    set_email(&server, &token, "grace@example.org").await;
    let mail = second.message(1).await;
    assert!(mail.contains("To: grace@example.org"), "{mail}");
    assert!(
        mail.contains("From: Accounts <accounts@example.org>"),
        "{mail}"
    );
    assert_eq!(first.count(), 1);
}
