//! The real binary: command line, start-up errors, restarts on the same data folder (graceful
//! and kill -9), and what reaches the logs.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_siwe-server");

/// A running `siwe-server` process and the log lines it has written.
struct Server {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<String>>>,
}

fn command(data: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RUST_LOG")
        .env_remove("SIWE_CONFIG")
        .env("SIWE_SERVER__BIND", "127.0.0.1:0")
        .env("SIWE_DATABASE__PATH", data.join("siwe.db"))
        .env("SIWE_LOG__FORMAT", "json")
        .env("SIWE_LOG__LEVEL", "debug")
        .env("SIWE_RATE_LIMIT__AUTH_PER_MINUTE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl Server {
    fn start(data: &Path) -> Self {
        Self::start_with(command(data))
    }

    fn start_with(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("siwe-server starts");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    if entry["fields"]["message"] == "listening" {
                        if let Some(addr) = entry["fields"]["address"].as_str() {
                            let _ = tx.send(addr.to_string());
                        }
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("server did not start: {:?}", logs.lock().unwrap()));
        Self {
            child,
            base: format!("http://{addr}"),
            logs,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs in against a server at `base` with a plain client; returns the verify body.
async fn sign_in(base: &str, wallet: &Wallet) -> Value {
    let client = reqwest::Client::new();
    let nonce: Value = client
        .get(format!("{base}/api/auth/nonce"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = MessageSpec::new(wallet, nonce["nonce"].as_str().unwrap()).render();
    let resp = client
        .post(format!("{base}/api/auth/verify"))
        .json(&serde_json::json!({ "message": message, "signature": wallet.sign(&message) }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn session_status(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/api/auth/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn restarts_keep_users_sessions_and_the_secret() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let wallet = Wallet::random();

    let server = Server::start(&data);
    let first = sign_in(&server.base, &wallet).await;
    let token = first["token"].as_str().unwrap().to_string();
    let secret = std::fs::read_to_string(data.join("secret.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "secret.key is private");
    }
    assert!(server.terminate().success(), "SIGTERM exits cleanly");

    let server = Server::start(&data);
    assert_eq!(session_status(&server.base, &token).await, StatusCode::OK);
    let again = sign_in(&server.base, &wallet).await;
    assert_eq!(again["created"], false);
    assert_eq!(again["user"]["id"], first["user"]["id"]);
    assert_eq!(
        std::fs::read_to_string(data.join("secret.key")).unwrap(),
        secret
    );

    // kill -9 loses nothing that was answered.
    let other = Wallet::random();
    let third = sign_in(&server.base, &other).await;
    server.kill_hard();
    let server = Server::start(&data);
    assert_eq!(
        session_status(&server.base, third["token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&server.base, &other).await["user"]["id"],
        third["user"]["id"]
    );
    assert_eq!(session_status(&server.base, &token).await, StatusCode::OK);
}

#[tokio::test]
async fn logs_carry_no_secrets() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let wallet = Wallet::random();
    let body = sign_in(&server.base, &wallet).await;
    let token = body["token"].as_str().unwrap();
    let csrf = body["csrfToken"].as_str().unwrap();
    assert_eq!(session_status(&server.base, token).await, StatusCode::OK);
    // A refused sign-in, with its signature in the request.
    let nonce: Value = reqwest::get(server.url("/api/auth/nonce"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nonce = nonce["nonce"].as_str().unwrap().to_string();
    let message = MessageSpec::new(&wallet, &nonce).render();
    let bad_signature = Wallet::random().sign(&message);
    let resp = reqwest::Client::new()
        .post(server.url("/api/auth/verify"))
        .json(&serde_json::json!({ "message": message, "signature": bad_signature }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The server's log lines arrive as it writes them: wait for the refusal's, however slow.
    let mut logs = server.logs();
    for _ in 0..100 {
        if logs.contains("invalid_signature") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        logs = server.logs();
    }
    let secret = std::fs::read_to_string(dir.path().join("data/secret.key")).unwrap();
    assert!(
        logs.contains("sign-in succeeded") && logs.contains(&wallet.address),
        "logs say who signed in"
    );
    assert!(
        logs.contains("invalid_signature"),
        "logs say why a sign-in was refused"
    );
    for (what, value) in [
        ("session token", token),
        ("csrf token", csrf),
        ("signature", bad_signature.trim_start_matches("0x")),
        ("nonce", nonce.as_str()),
        ("secret", secret.trim()),
    ] {
        assert!(!logs.contains(value), "the {what} reached the logs");
    }
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_key() {
    let dir = TempDir::new().unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.stderr(Stdio::piped()).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let data = dir.path().join("data");
    let err = run(command(&data).env("SIWE_SESSION__SAME_SITE", "none"));
    assert!(err.contains("same_site") && err.contains("Secure"), "{err}");
    let err = run(command(&data).env("SIWE_SIWE__NONCE_TTL_SECS", "five"));
    assert!(err.contains("siwe.nonce_ttl_secs"), "{err}");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[server]\npublic_url = \"https://x.org/path\"\n").unwrap();
    let err = run(command(&data).arg("--config").arg(&config));
    assert!(err.contains("server.public_url"), "{err}");
    std::fs::write(&config, "[sesion]\nttl_secs = 5\n").unwrap();
    let err = run(command(&data).env("SIWE_CONFIG", &config));
    assert!(err.contains("sesion"), "{err}");
    let err = run(command(&data)
        .arg("--config")
        .arg(dir.path().join("missing.toml")));
    assert!(err.contains("missing.toml"), "{err}");
}

#[tokio::test]
async fn config_file_and_environment_apply() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[siwe]\nchain_ids = [10]\nstatement = \"From the file.\"\n[session]\ncookie_name = \"from_file\"\n",
    )
    .unwrap();
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("--config")
        .arg(&config)
        .env("SIWE_SESSION__COOKIE_NAME", "from_env");
    let server = Server::start_with(cmd);
    let nonce: Value = reqwest::get(server.url("/api/auth/nonce"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nonce["chainIds"], serde_json::json!([10]));
    assert_eq!(nonce["statement"], "From the file.");
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, nonce["nonce"].as_str().unwrap());
    spec.chain_id = "10".into();
    let message = spec.render();
    let resp = reqwest::Client::new()
        .post(server.url("/api/auth/verify"))
        .json(&serde_json::json!({ "message": message, "signature": wallet.sign(&message) }))
        .send()
        .await
        .unwrap();
    assert!(
        set_cookie(resp.headers()).starts_with("from_env="),
        "environment wins over the file"
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let conn = rusqlite::Connection::open(data.join("siwe.db")).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let out = command(&data).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("newer"), "{err}");
}

#[test]
fn cli_prints_help_version_and_spec() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("serve") && help.contains("openapi") && help.contains("--config"));
    let out = Command::new(BIN).arg("openapi").output().unwrap();
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn serve_is_the_default_and_explicit_command() {
    let dir = TempDir::new().unwrap();
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("serve");
    let server = Server::start_with(cmd);
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

/// forward-auth rules without a trusted proxy refuse every signed-in check (the host cannot be
/// believed): the server says so when it starts.
#[test]
fn forward_auth_rules_without_trusted_proxies_warn_at_start_up() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[forward_auth.rules]]\nhost = \"admin.example.org\"\naddresses = [\"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\"]\n",
    )
    .unwrap();
    let warning = "server.trusted_proxies is empty";
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("--config").arg(&config);
    let server = Server::start_with(cmd);
    assert!(server.logs().contains(warning), "{}", server.logs());
    drop(server);
    let mut cmd = command(&dir.path().join("data"));
    cmd.arg("--config")
        .arg(&config)
        .env("SIWE_SERVER__TRUSTED_PROXIES", "[\"127.0.0.1\"]");
    let server = Server::start_with(cmd);
    assert!(!server.logs().contains(warning), "{}", server.logs());
}
