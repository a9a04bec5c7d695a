//! Shared test harness: a real server on a random loopback port with its own SQLite file (or
//! PostgreSQL database, with `TEST_STORAGE=postgres`: see `postgres.rs`), an HTTP
//! client that keeps cookies, and wallets with real secp256k1 keys that sign EIP-4361 messages.
#![allow(dead_code)]

pub mod anvil;
pub mod contracts;
pub mod ens;
pub mod jwt;
pub mod nginx;
pub mod oidc_back;
pub mod oidc_front;
pub mod postgres;
pub mod process;
pub mod safe;
pub mod smtp;

use std::{path::PathBuf, sync::Arc, time::Duration};

use k256::ecdsa::SigningKey;
use reqwest::{header::HeaderMap, Client, Response, StatusCode};
use serde_json::{json, Value};
use sha3::{Digest, Keccak256};
use siwe_server::{clock::Clock, service::Service, Application, Settings};
use tempfile::TempDir;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use tokio::sync::oneshot;

pub const DOMAIN: &str = "localhost:8080";
pub const URI: &str = "http://localhost:8080";

pub struct TestApp {
    pub base: String,
    /// The separate metrics listener, when `metrics.bind` is set.
    pub metrics_base: Option<String>,
    pub settings: Settings,
    pub client: Client,
    pub dir: Arc<TempDir>,
    /// The server's clock: tests move it instead of sleeping past a lifetime.
    pub clock: Clock,
    /// The service behind the API, for what tests do beside it (a contract sessions' re-check).
    pub service: Arc<Service>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for a test: its own database in `dir`, any free port.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings.database.path = dir.path().join("data").join("siwe.db");
    settings.log.level = "warn".into();
    if postgres::storage_is_postgres() {
        settings.database.url = postgres::database_of(dir.path()).map(Into::into);
        settings.security.secret = Some(postgres::SECRET.to_string().into());
    }
    // Tests sign in many times from one address; the rate-limit tests turn limits back on.
    settings.rate_limit.auth_per_minute = 0;
    settings.rate_limit.read_per_minute = 0;
    settings
}

pub fn cookie_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = Arc::new(TempDir::new().unwrap());
        let mut settings = test_settings(&dir);
        configure(&mut settings);
        Self::spawn_in(dir, settings).await
    }

    /// Starts a server on an existing folder (e.g. to restart on the same database), with a
    /// clock of its own.
    pub async fn spawn_in(dir: Arc<TempDir>, settings: Settings) -> Self {
        if let Some(data_dir) = settings.database.path.parent() {
            jwt::seed_key_file(data_dir);
        }
        let clock = Clock::adjustable();
        let app = Application::build_with_clock(settings.clone(), clock.clone())
            .await
            .expect("application builds");
        let base = format!("http://{}", app.local_addr());
        let metrics_base = app.metrics_addr().map(|a| format!("http://{a}"));
        let service = app.service();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            metrics_base,
            settings,
            client: cookie_client(),
            dir,
            clock,
            service,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }

    /// Moves the server's clock `secs` seconds forward, as if that much time had passed.
    pub fn advance_clock(&self, secs: i64) {
        self.clock.advance(time::Duration::seconds(secs));
    }

    /// The settings this app runs with, to start another server on the same data.
    pub fn settings_clone(&self) -> Settings {
        self.settings.clone()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("siwe.db")
    }

    /// The first column of the first row of `sql`, read from the server's storage through its
    /// own storage interface (SQLite or PostgreSQL alike).
    pub fn sql_value<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        self.service
            .db()
            .read(|conn| conn.query_one(sql, &[], |row| row.get(0)))
            .unwrap()
    }

    /// Runs a statement that changes rows of the server's storage (whichever engine), with
    /// `params` for its `?N`; how many rows it changed.
    pub async fn sql_execute(&self, sql: &str, params: Vec<rusqlite::types::Value>) -> usize {
        let sql = sql.to_string();
        self.service
            .db()
            .write(move |conn| {
                let params: Vec<&dyn rusqlite::ToSql> =
                    params.iter().map(|p| p as &dyn rusqlite::ToSql).collect();
                conn.execute(&sql, &params)
            })
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET /api/auth/session` with `token` as a bearer token (and no cookie).
    pub async fn session_with_bearer(&self, token: &str) -> Response {
        Client::new()
            .get(self.url("/api/auth/session"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn nonce(&self) -> String {
        let body: Value = self.get("/api/auth/nonce").await.json().await.unwrap();
        body["nonce"].as_str().unwrap().to_string()
    }

    pub async fn verify(&self, message: &str, signature: &str) -> Response {
        self.client
            .post(self.url("/api/auth/verify"))
            .json(&json!({ "message": message, "signature": signature }))
            .send()
            .await
            .unwrap()
    }

    /// Signs `spec` with `wallet` and posts it to verify.
    pub async fn verify_spec(&self, wallet: &Wallet, spec: &MessageSpec) -> Response {
        let message = spec.render();
        self.verify(&message, &wallet.sign(&message)).await
    }

    /// Verify with a fresh nonce and an email for a wallet without an account.
    pub async fn verify_with_email(&self, wallet: &Wallet, email: &str) -> Response {
        let message = MessageSpec::new(wallet, &self.nonce().await).render();
        let body =
            json!({ "message": message, "signature": wallet.sign(&message), "email": email });
        self.call(reqwest::Method::POST, "/api/auth/verify", None, Some(body))
            .await
    }

    /// Full sign-in with a fresh nonce; returns the response body.
    pub async fn sign_in(&self, wallet: &Wallet) -> Value {
        let spec = MessageSpec::new(wallet, &self.nonce().await);
        let resp = self.verify_spec(wallet, &spec).await;
        assert_eq!(resp.status(), StatusCode::OK, "sign-in failed");
        resp.json().await.unwrap()
    }

    /// A request with this app's cookies, an optional CSRF token and an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = csrf {
            req = req.header("X-CSRF-Token", token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// The message that links `address` to this app's signed-in account.
    pub async fn link_challenge(&self, csrf: &str, address: &str) -> String {
        let challenge: Value = self
            .call(
                reqwest::Method::POST,
                "/api/wallets/challenge",
                Some(csrf),
                Some(json!({ "address": address })),
            )
            .await
            .json()
            .await
            .unwrap();
        challenge["message"]
            .as_str()
            .expect("a challenge")
            .to_string()
    }

    /// Signs `wallet`'s link challenge for this app's signed-in account and links it.
    pub async fn link(&self, csrf: &str, wallet: &Wallet) -> Response {
        let message = self.link_challenge(csrf, &wallet.address).await;
        self.call(
            reqwest::Method::POST,
            "/api/wallets",
            Some(csrf),
            Some(json!({ "message": message, "signature": wallet.sign(&message) })),
        )
        .await
    }

    pub async fn logout(&self, csrf: Option<&str>) -> Response {
        let mut req = self.client.post(self.url("/api/auth/logout"));
        if let Some(token) = csrf {
            req = req.header("X-CSRF-Token", token);
        }
        req.send().await.unwrap()
    }
}

/// A wallet with a real secp256k1 key (k256, independent of the server's libsecp256k1).
pub struct Wallet {
    key: SigningKey,
    pub address: String,
}

impl Wallet {
    pub fn random() -> Self {
        Self::of(SigningKey::random(&mut rand_core::OsRng))
    }

    fn of(key: SigningKey) -> Self {
        let point = key.verifying_key().to_encoded_point(false);
        let hash = Keccak256::digest(&point.as_bytes()[1..]);
        let address = signinwithethereum::eip55(&hash[12..].try_into().unwrap());
        Self { key, address }
    }

    /// The wallet of a fixed key (the upgrade fixtures sign in again with the same wallets).
    pub fn from_key(bytes: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&bytes.into()).expect("a valid secp256k1 key");
        Self::of(key)
    }

    /// The private key (for alloy's signer in `anvil::signer_of`).
    pub fn key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }

    /// EIP-191 personal_sign: 65 bytes hex with v = 27/28.
    pub fn sign(&self, message: &str) -> String {
        let mut hasher = Keccak256::new();
        hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()));
        hasher.update(message.as_bytes());
        let digest = hasher.finalize();
        let (sig, recid) = self.key.sign_prehash_recoverable(&digest).unwrap();
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(27 + recid.to_byte());
        format!("0x{}", hex::encode(bytes))
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

/// The parts of an EIP-4361 message, defaulting to what the test server accepts.
#[derive(Clone)]
pub struct MessageSpec {
    pub domain: String,
    pub address: String,
    pub statement: Option<String>,
    pub uri: String,
    pub chain_id: String,
    pub nonce: String,
    pub issued_at: String,
    pub expiration_time: Option<String>,
    pub not_before: Option<String>,
    pub request_id: Option<String>,
    pub resources: Vec<String>,
}

impl MessageSpec {
    pub fn new(wallet: &Wallet, nonce: &str) -> Self {
        Self {
            domain: DOMAIN.into(),
            address: wallet.address.clone(),
            statement: Some("Sign in to the test.".into()),
            uri: URI.into(),
            chain_id: "1".into(),
            nonce: nonce.into(),
            issued_at: rfc3339(OffsetDateTime::now_utc()),
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        }
    }

    pub fn render(&self) -> String {
        let mut m = format!(
            "{} wants you to sign in with your Ethereum account:\n{}\n\n",
            self.domain, self.address
        );
        if let Some(statement) = &self.statement {
            m.push_str(&format!("{statement}\n"));
        }
        m.push_str(&format!(
            "\nURI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.uri, self.chain_id, self.nonce, self.issued_at
        ));
        if let Some(t) = &self.expiration_time {
            m.push_str(&format!("\nExpiration Time: {t}"));
        }
        if let Some(t) = &self.not_before {
            m.push_str(&format!("\nNot Before: {t}"));
        }
        if let Some(r) = &self.request_id {
            m.push_str(&format!("\nRequest ID: {r}"));
        }
        if !self.resources.is_empty() {
            m.push_str("\nResources:");
            for r in &self.resources {
                m.push_str(&format!("\n- {r}"));
            }
        }
        m
    }
}

/// Status and `error` code of an error response, checking it has the documented shape.
pub async fn error_code(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.expect("error body is JSON");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error has a message: {body}"
    );
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

/// Asserts an error response's status and code.
pub async fn expect_error(resp: Response, status: StatusCode, code: &str) {
    let (actual_status, actual_code) = error_code(resp).await;
    assert_eq!((actual_status, actual_code.as_str()), (status, code));
}

pub fn set_cookie(headers: &HeaderMap) -> String {
    headers
        .get("set-cookie")
        .expect("Set-Cookie present")
        .to_str()
        .unwrap()
        .to_string()
}
