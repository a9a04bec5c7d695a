//! Upgrades: a database made by every earlier released schema (tests/fixtures/upgrade/, made by
//! the binaries of old commits with tests/fixtures/upgrade/make.sh) opens with today's binary,
//! migrates, and keeps its accounts, wallets and sessions.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
};

use common::{
    oidc_back::{pkce, pkce_request, RP},
    oidc_front::code_of,
    process::*,
    *,
};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The fixed keys of the fixtures' wallets: A signs in first (its session is kept), B is linked
/// to A's account from schema 2 on (accounts came with it) and signs in too.
const KEY_A: [u8; 32] = [0xa1; 32];
const KEY_B: [u8; 32] = [0xb2; 32];
/// The email given at A's first sign-in from schema 2 on (verify took no email before).
const EMAIL: &str = "upgrade@example.org";
/// The fixtures' sessions last a century (no release caps `session.ttl_secs`), so the test does
/// not rot; their expiry is in each manifest.
const SESSION_TTL_SECS: u64 = 100 * 365 * 86_400;
/// Files of a data folder that a fixture keeps (the lock and WAL files are not data).
const KEPT: [&str; 3] = ["siwe.db", "secret.key", "jwt-keys.json"];
/// From schema 6 on (OpenID Connect), the old server had a trusted client `rp` whose refresh
/// tokens last a century (no release caps them); the fixture keeps this file and one of A's
/// refresh tokens, and today's binary runs with the same file.
const OIDC_CONFIG: &str = r#"[oidc]
refresh_token_ttl_secs = 3155760000

[[oidc.clients]]
id = "rp"
secret = "upgrade-rp-secret-0123456789"
redirect_uris = ["https://rp.example.org/cb"]
trusted = true
"#;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

/// The manifests of the fixture folders (`v01`, `v02`, ...), by schema version.
fn manifests() -> Vec<Value> {
    let mut found: Vec<Value> = fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path().join("manifest.json"))
        .filter(|path| path.is_file())
        .map(|path| serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap())
        .collect();
    found.sort_by_key(|manifest| manifest["version"].as_i64());
    found
}

fn pragma(db: &Path, name: &str) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("PRAGMA {name}"), [], |row| {
        row.get::<_, rusqlite::types::Value>(0)
    })
    .map(|value| match value {
        rusqlite::types::Value::Integer(n) => n.to_string(),
        rusqlite::types::Value::Text(text) => text,
        other => format!("{other:?}"),
    })
    .unwrap()
}

/// The addresses of a user body's wallets, sorted.
fn addresses(user: &Value) -> Vec<String> {
    let mut found: Vec<String> = user["wallets"]
        .as_array()
        .expect("the user lists its wallets")
        .iter()
        .map(|wallet| wallet["address"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    found
}

/// A token request of the client `rp` (HTTP Basic): the answer's status and body.
async fn token(base: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = Client::new()
        .post(format!("{base}/oidc/token"))
        .basic_auth("rp", Some("upgrade-rp-secret-0123456789"))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The `sub` userinfo answers for `access_token`.
async fn subject(base: &str, access_token: &str) -> Value {
    let info: Value = Client::new()
        .get(format!("{base}/oidc/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    info["sub"].clone()
}

/// `GET /api/auth/session` with the stored token as the session cookie: the status and body.
async fn session_by_cookie(base: &str, cookie: &str, token: &str) -> (StatusCode, Value) {
    let resp = Client::new()
        .get(format!("{base}/api/auth/session"))
        .header("Cookie", format!("{cookie}={token}"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every fixture, from schema 1 on, upgrades to the current schema and keeps working: the file
/// is sound, its sessions authenticate as their account, its wallets sign in to that account
/// (both listed), and a new sign-in and a new link work. Fails if a migration loses or garbles
/// old data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_every_earlier_schema_upgrades_and_keeps_its_accounts_and_sessions() {
    let current = siwe_server::db::SCHEMA_VERSION;
    let found = manifests();
    let versions: Vec<i64> = found
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        versions,
        (1..=versions.len() as i64).collect::<Vec<_>>(),
        "one fixture per schema from 1 on"
    );
    assert!(
        versions.len() as i64 >= current - 1,
        "schemas {versions:?} but the binary is at {current}: add the released schema's fixture \
         with tests/fixtures/upgrade/make.sh (see its README.md)"
    );
    let wallet_a = Wallet::from_key(KEY_A);
    let wallet_b = Wallet::from_key(KEY_B);

    for manifest in &found {
        let version = manifest["version"].as_i64().unwrap();
        let linked = version >= 2;
        let account = manifest["account"].as_str().unwrap();
        let mut wallets = vec![wallet_a.address.clone()];
        if linked {
            wallets.push(wallet_b.address.clone());
        }
        wallets.sort();
        let dir = TempDir::new().unwrap();
        let data = dir.path().join("data");
        data_from_fixture(version, &data);
        let mut command = command(&data);
        if version >= 6 {
            command.env(
                "SIWE_CONFIG",
                fixtures().join(format!("v{version:02}/config.toml")),
            );
        }
        let server = Server::start_with(command);
        let base = server.base.clone();

        for token in manifest["sessions"].as_array().unwrap() {
            let token = token.as_str().unwrap();
            let cookie = manifest["cookie"].as_str().unwrap();
            let (status, body) = session_by_cookie(&base, cookie, token).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "schema {version}: its session: {body}"
            );
            assert_eq!(
                body["user"]["id"], account,
                "schema {version}: the session's account"
            );
            assert_eq!(
                session_status(&base, token).await,
                StatusCode::OK,
                "schema {version}: its session as a bearer token"
            );
        }

        if version >= 6 {
            let oidc = &manifest["oidc"];
            let refresh_token = oidc["refresh_token"].as_str().unwrap();
            let grant = [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ];
            let (status, tokens) = token(&base, &grant).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "schema {version}: refresh: {tokens}"
            );
            let access_token = tokens["access_token"].as_str().unwrap();
            assert_eq!(
                subject(&base, access_token).await,
                oidc["sub"],
                "schema {version}: the refreshed token's subject"
            );
        }

        let signed_in = attempt(&cookie_client(), &base, &wallet_a).await;
        let signed_in = signed_in.unwrap_or_else(|e| panic!("schema {version}: A signs in: {e}"));
        assert_eq!(
            signed_in["user"]["id"], account,
            "schema {version}: A's account"
        );
        assert_eq!(signed_in["created"], false, "schema {version}");
        assert_eq!(
            addresses(&signed_in["user"]),
            wallets,
            "schema {version}: wallets"
        );
        if linked {
            assert_eq!(
                signed_in["user"]["email"], EMAIL,
                "schema {version}: the email"
            );
            let b = attempt(&cookie_client(), &base, &wallet_b).await;
            let b = b.unwrap_or_else(|e| panic!("schema {version}: B signs in: {e}"));
            assert_eq!(b["user"]["id"], account, "schema {version}: B's account");
        }

        let newcomer = attempt(&cookie_client(), &base, &Wallet::random()).await;
        let newcomer = newcomer.unwrap_or_else(|e| panic!("schema {version}: a new wallet: {e}"));
        assert_eq!(newcomer["created"], true, "schema {version}: a new account");
        let client = cookie_client();
        let again = attempt(&client, &base, &wallet_a).await.unwrap();
        let csrf = again["csrfToken"].as_str().unwrap();
        link(&client, &base, csrf, &Wallet::random())
            .await
            .unwrap_or_else(|e| panic!("schema {version}: a new link: {e}"));
        let mine: Value = client
            .get(format!("{base}/api/wallets"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            mine.as_array().map(Vec::len),
            Some(wallets.len() + 1),
            "schema {version}: the linked wallet is listed beside the old ones: {mine}"
        );

        assert!(server.terminate().success(), "schema {version}: exits 0");
        let db = data.join("siwe.db");
        assert_eq!(pragma(&db, "integrity_check"), "ok", "schema {version}");
        assert_eq!(
            pragma(&db, "user_version"),
            current.to_string(),
            "schema {version}"
        );
    }
}

/// Makes one fixture with an old release (not a test: run by make.sh, which builds the release
/// and sets UPGRADE_BIN, UPGRADE_VERSION, UPGRADE_COMMIT and UPGRADE_OUT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by tests/fixtures/upgrade/make.sh with an old binary"]
async fn make_fixture() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let binary = PathBuf::from(var("UPGRADE_BIN"));
    let version: i64 = var("UPGRADE_VERSION").parse().unwrap();
    let out = PathBuf::from(var("UPGRADE_OUT"));
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let mut command = command_of(&binary, &data);
    command.env("SIWE_SESSION__TTL_SECS", SESSION_TTL_SECS.to_string());
    if version >= 6 {
        fs::write(dir.path().join("config.toml"), OIDC_CONFIG).unwrap();
        command.env("SIWE_CONFIG", dir.path().join("config.toml"));
    }
    let server = Server::start_with(command);
    let base = server.base.clone();

    let wallet_a = Wallet::from_key(KEY_A);
    let client = cookie_client();
    let email = (version >= 2).then_some(EMAIL);
    let a = attempt_with_email(&client, &base, &wallet_a, email)
        .await
        .unwrap();
    let account = a["user"]["id"].as_str().unwrap().to_string();
    let mut sessions = vec![a["token"].clone()];
    let mut expiries = vec![a["session"]["expiresAt"].clone()];
    let mut wallets = json!({ "a": wallet_a.address });
    if version >= 2 {
        let wallet_b = Wallet::from_key(KEY_B);
        let csrf = a["csrfToken"].as_str().unwrap();
        link(&client, &base, csrf, &wallet_b).await.unwrap();
        let b = attempt(&cookie_client(), &base, &wallet_b).await.unwrap();
        assert_eq!(
            b["user"]["id"],
            account.as_str(),
            "B signs in to A's account"
        );
        assert_eq!(addresses(&b["user"]).len(), 2);
        sessions.push(b["token"].clone());
        expiries.push(b["session"]["expiresAt"].clone());
        wallets["b"] = json!(wallet_b.address);
    }
    let mut oidc = Value::Null;
    if version >= 6 {
        let (verifier, challenge) = pkce();
        let request = pkce_request("rp", RP, "openid offline_access", &challenge);
        let resp = client
            .get(format!("{base}/oidc/authorize?{request}"))
            .send()
            .await
            .unwrap();
        let code = code_of(&resp);
        let (status, tokens) = token(
            &base,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", RP),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let sub = subject(&base, tokens["access_token"].as_str().unwrap()).await;
        assert!(sub.is_string(), "userinfo names the subject");
        oidc = json!({ "client": "rp", "refresh_token": tokens["refresh_token"], "sub": sub });
    }
    assert!(server.terminate().success(), "the old server stops cleanly");

    // A complete file: whatever is left in the WAL goes into the database before it is copied.
    let db = data.join("siwe.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    assert!(!data.join("siwe.db-wal").exists(), "no WAL left");
    assert_eq!(pragma(&db, "integrity_check"), "ok");
    assert_eq!(
        pragma(&db, "user_version"),
        version.to_string(),
        "the schema it claims"
    );

    fs::create_dir_all(&out).unwrap();
    if version >= 6 {
        fs::write(out.join("config.toml"), OIDC_CONFIG).unwrap();
    }
    for name in KEPT {
        if data.join(name).exists() {
            fs::copy(data.join(name), out.join(name)).unwrap();
        }
    }
    let manifest = json!({
        "version": version,
        "commit": var("UPGRADE_COMMIT"),
        "account": account,
        "wallets": wallets,
        "email": email,
        "cookie": "siwe_session",
        "sessions": sessions,
        "sessions_expire_at": expiries,
        "oidc": oidc,
        "made_at": rfc3339(time::OffsetDateTime::now_utc()),
    });
    let text = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
    fs::write(out.join("manifest.json"), text).unwrap();
}
