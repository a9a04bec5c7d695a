//! Sessions opened by smart-contract wallets (issue 16): they are listed as such, keep the
//! signature the contract accepted, and with `siwe.recheck_contract_sessions_secs` end once the
//! contract no longer accepts it; a chain that does not answer ends nothing.

mod common;

use common::{TestApp, Wallet};
use reqwest::StatusCode;
use serde_json::Value;
use siwe_server::config::{ChainSettings, OneOrMany};

/// A loopback URL nothing listens on.
fn unreachable_rpc() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn with_chain(rpc_url: String) -> impl FnOnce(&mut siwe_server::Settings) {
    move |settings| {
        settings.chains.insert(
            "31337".into(),
            ChainSettings {
                rpc_url: OneOrMany::One(rpc_url),
                timeout_ms: 500,
            },
        );
    }
}

fn kept_signatures(app: &TestApp) -> Vec<String> {
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT session_id FROM contract_sessions ORDER BY session_id")
        .unwrap();
    let ids = stmt.query_map([], |row| row.get(0)).unwrap();
    ids.collect::<Result<_, _>>().unwrap()
}

/// Keeps a signature for a session as a contract wallet's sign-in would (for the cases that do
/// not need a contract to accept one).
fn keep_signature(app: &TestApp, session_id: &str, address: &str) {
    let conn = rusqlite::Connection::open(app.db_path()).unwrap();
    conn.execute(
        "INSERT INTO contract_sessions
           (session_id, chain_id, address, message_hash, signature, checked_at)
         VALUES (?1, 31337, ?2, ?3, ?4, 0)",
        rusqlite::params![session_id, address, [5u8; 32], vec![6u8; 97]],
    )
    .unwrap();
}

async fn sessions_list(app: &TestApp) -> Vec<Value> {
    let resp = app.get("/api/auth/sessions").await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_key_sign_in_is_not_a_contract_wallet_session() {
    let app = TestApp::spawn().await;
    let signed_in = app.sign_in(&Wallet::random()).await;
    assert_eq!(signed_in["session"]["contractWallet"], false);
    let session: Value = app.get("/api/auth/session").await.json().await.unwrap();
    assert_eq!(session["session"]["contractWallet"], false);
    assert_eq!(sessions_list(&app).await[0]["contractWallet"], false);
    assert!(kept_signatures(&app).is_empty());
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!(report, Default::default(), "nothing to check");
}

/// A chain outage must not sign contract wallets out: the session stays, counted as
/// unavailable. Ending the session (here: signing out) takes its signature along.
#[tokio::test]
async fn a_recheck_while_the_chain_is_unreachable_keeps_the_session() {
    let app = TestApp::spawn_with(with_chain(unreachable_rpc())).await;
    let wallet = Wallet::random();
    let signed_in = app.sign_in(&wallet).await;
    let session_id = signed_in["session"]["id"].as_str().unwrap();
    keep_signature(&app, session_id, &wallet.address);
    let listed = sessions_list(&app).await;
    assert_eq!(listed[0]["contractWallet"], true, "{listed:?}");

    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!((report.valid, report.ended, report.unavailable), (0, 0, 1));
    assert_eq!(app.get("/api/auth/session").await.status(), StatusCode::OK);
    assert_eq!(kept_signatures(&app), [session_id]);

    let csrf = signed_in["csrfToken"].as_str().unwrap();
    assert_eq!(
        app.logout(Some(csrf)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(kept_signatures(&app).is_empty(), "signing out drops it");
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!(
        report,
        Default::default(),
        "an ended session is not checked"
    );
}
