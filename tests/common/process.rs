//! The real `siwe-server` binary as a child process: started on a data folder with a random
//! loopback port, its JSON log lines collected, stopped by SIGTERM or kill -9.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;

use super::{MessageSpec, Wallet};

/// The binary under test. Cargo sets the variable for integration tests only; the examples
/// that share this module never start the binary, so they compile without it.
#[allow(clippy::option_env_unwrap)]
pub fn bin() -> &'static str {
    option_env!("CARGO_BIN_EXE_siwe-server").expect("cargo sets it for integration tests")
}

/// A running `siwe-server` process and the log lines it has written.
pub struct Server {
    pub child: Child,
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// The binary on `data` (its database `data/siwe.db`), on a random loopback port, logging JSON
/// at debug level to a pipe the harness reads.
pub fn command(data: &Path) -> Command {
    command_of(Path::new(bin()), data)
}

/// As [`command`], with another build of the binary (the upgrade fixtures' old releases): only
/// settings every release since the first knows.
pub fn command_of(binary: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(binary);
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
    pub fn start(data: &Path) -> Self {
        Self::start_with(command(data))
    }

    pub fn start_with(mut cmd: Command) -> Self {
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
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

/// One sign-in of `wallet`: the answer's body when it is 200, else what went wrong.
pub async fn attempt(
    client: &reqwest::Client,
    base: &str,
    wallet: &Wallet,
) -> Result<Value, String> {
    attempt_with_email(client, base, wallet, None).await
}

/// As [`attempt`], giving `email` for the account a new wallet makes.
pub async fn attempt_with_email(
    client: &reqwest::Client,
    base: &str,
    wallet: &Wallet,
    email: Option<&str>,
) -> Result<Value, String> {
    let nonce: Value = client
        .get(format!("{base}/api/auth/nonce"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let message = MessageSpec::new(wallet, nonce["nonce"].as_str().unwrap_or_default()).render();
    let mut body = serde_json::json!({ "message": message, "signature": wallet.sign(&message) });
    if let Some(email) = email {
        body["email"] = email.into();
    }
    let resp = client
        .post(format!("{base}/api/auth/verify"))
        .json(&body)
        .send()
        .await;
    answered(resp, StatusCode::OK).await
}

/// The body of an answer with status `wanted`, else what went wrong.
async fn answered(
    resp: reqwest::Result<reqwest::Response>,
    wanted: StatusCode,
) -> Result<Value, String> {
    let resp = resp.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status == wanted {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// Signs in against a server at `base` with a plain client; returns the verify body.
pub async fn sign_in(base: &str, wallet: &Wallet) -> Value {
    let body = attempt(&reqwest::Client::new(), base, wallet).await;
    body.unwrap_or_else(|why| panic!("sign-in failed: {why}"))
}

/// The status of `GET /api/auth/session` with `token`.
pub async fn session_status(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/api/auth/session"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Links `wallet` to the account signed in on `client` (cookie and `csrf`): challenge, then the
/// signed link. The link's body when it is 201, else what went wrong.
pub async fn link(
    client: &reqwest::Client,
    base: &str,
    csrf: &str,
    wallet: &Wallet,
) -> Result<Value, String> {
    let challenge: Value = client
        .post(format!("{base}/api/wallets/challenge"))
        .header("X-CSRF-Token", csrf)
        .json(&serde_json::json!({ "address": wallet.address }))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let message = challenge["message"]
        .as_str()
        .ok_or_else(|| format!("no challenge: {challenge}"))?;
    let resp = client
        .post(format!("{base}/api/wallets"))
        .header("X-CSRF-Token", csrf)
        .json(&serde_json::json!({ "message": message, "signature": wallet.sign(message) }))
        .send()
        .await;
    answered(resp, StatusCode::CREATED).await
}

/// The upgrade fixture of schema `version` (tests/fixtures/upgrade/vNN, see its README.md) as
/// the data folder `data`, which the server accepts: the folder 0700, its files 0600.
pub fn data_from_fixture(version: i64, data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade")
        .join(format!("v{version:02}"));
    assert!(fixture.is_dir(), "no fixture {}", fixture.display());
    std::fs::create_dir_all(data).unwrap();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700)).unwrap();
    for name in ["siwe.db", "secret.key", "jwt-keys.json"] {
        if fixture.join(name).exists() {
            std::fs::copy(fixture.join(name), data.join(name)).unwrap();
            std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
    }
}
