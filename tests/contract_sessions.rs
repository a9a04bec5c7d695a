//! Sessions opened by smart-contract wallets (issue 16): they are listed as such, keep the
//! signature the contract accepted, and with `siwe.recheck_contract_sessions_secs` end once the
//! contract no longer accepts it; a chain that does not answer ends nothing.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use common::{
    anvil::{message_on_chain, serve_chain, Anvil},
    contracts::{dead_rpc_url, HangingRpc},
    safe::{
        eip6492_wrap, hex0x, owner_signature, siwe_hash, wallet_address, SafeKit, EIP6492_MAGIC,
    },
    TestApp, Wallet,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use siwe_server::Settings;

/// Chain 31337 at `rpc_url`.
fn with_chain(settings: &mut Settings, rpc_url: &str) {
    with_chain_timeout(settings, rpc_url, 2000);
}

fn with_chain_timeout(settings: &mut Settings, rpc_url: &str, timeout_ms: u64) {
    serve_chain(settings, 31337, vec![rpc_url.to_string()], timeout_ms);
}

/// A sign-in message of `app` for `safe` on chain 31337.
async fn message_for(app: &TestApp, safe: Address) -> String {
    message_on_chain(app, &safe.to_checksum(None), 31337).await
}

/// Signs in to `app` as `safe` (on chain 31337), by its owner's signature.
async fn sign_in_as_safe(app: &TestApp, safe: Address, owner: &Wallet) -> reqwest::Response {
    let message = message_for(app, safe).await;
    let signature = owner_signature(31337, safe, owner, siwe_hash(&message));
    app.verify(&message, &hex0x(&signature)).await
}

/// A new one-owner Safe of `kit` signed in to `app`: its owner, its address and the sign-in.
async fn new_safe_signed_in(app: &TestApp, kit: &SafeKit<'_>) -> (Wallet, Address, Value) {
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;
    let resp = sign_in_as_safe(app, safe, &owner).await;
    assert_eq!(resp.status(), StatusCode::OK);
    (owner, safe, resp.json().await.unwrap())
}

/// What `contract_sessions` keeps of a session: the wallet and the hash signed.
fn kept_signature(app: &TestApp, session_id: &str) -> Option<(String, Vec<u8>)> {
    app.service
        .db()
        .read(|conn| {
            conn.query_opt(
                "SELECT address, message_hash FROM contract_sessions WHERE session_id = ?1",
                rusqlite::params![session_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
        })
        .unwrap()
}

fn kept_signatures(app: &TestApp) -> Vec<String> {
    app.service
        .db()
        .read(|conn| {
            conn.query_vec(
                "SELECT session_id FROM contract_sessions ORDER BY session_id",
                &[],
                |row| row.get(0),
            )
        })
        .unwrap()
}

/// Keeps a signature for a session as a contract wallet's sign-in would (for the cases that do
/// not need a contract to accept one).
async fn keep_signature(app: &TestApp, session_id: &str, address: &str) {
    app.sql_execute(
        "INSERT INTO contract_sessions
           (session_id, chain_id, address, message_hash, signature, checked_at)
         VALUES (?1, 31337, ?2, ?3, ?4, 0)",
        vec![
            session_id.to_string().into(),
            address.to_string().into(),
            vec![5u8; 32].into(),
            vec![6u8; 97].into(),
        ],
    )
    .await;
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.call(Method::POST, path, None, Some(body)).await
}

async fn sessions_list(app: &TestApp) -> Vec<Value> {
    let resp = app.get("/api/auth/sessions").await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recheck_while_the_chain_is_unreachable_keeps_the_session() {
    let app = TestApp::spawn_with(|s| with_chain(s, &dead_rpc_url())).await;
    let wallet = Wallet::random();
    let signed_in = app.sign_in(&wallet).await;
    let session_id = signed_in["session"]["id"].as_str().unwrap();
    keep_signature(&app, session_id, &wallet.address).await;
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

/// A chain that hangs holds a pass up about one timeout, not one per session: once it has not
/// answered, the rest of the pass does not ask it again (and every session stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_chain_holds_a_pass_up_once_not_once_per_session() {
    let rpc = HangingRpc::start().await;
    let app = TestApp::spawn_with(|s| with_chain_timeout(s, &rpc.url, 400)).await;
    let wallet = Wallet::random();
    let sessions = 70; // more than one batch
    for _ in 0..sessions {
        let signed_in = app.sign_in(&wallet).await;
        keep_signature(
            &app,
            signed_in["session"]["id"].as_str().unwrap(),
            &wallet.address,
        )
        .await;
    }
    let started = Instant::now();
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!(
        (report.valid, report.ended, report.unavailable),
        (0, 0, sessions)
    );
    // One batch asks 4 at once: without the rule, 70 / 4 timeouts of 0.4 s (7 s).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kept_signatures(&app).len(), sessions);
    assert_eq!(app.get("/api/auth/session").await.status(), StatusCode::OK);
}

/// The case of EIP-4361's note: a Safe signs in (its session is a contract wallet's, and keeps
/// the signature), stays signed in while its owner is the same, and once the owner changes the
/// next re-check ends the session and says so in the account's security log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_session_ends_at_the_first_recheck_after_its_owner_changes() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(|s| with_chain(s, &anvil.url)).await;

    let (owner, safe, signed_in) = new_safe_signed_in(&app, &kit).await;
    assert_eq!(signed_in["session"]["contractWallet"], true);
    let session_id = signed_in["session"]["id"].as_str().unwrap();
    let (address, _) = kept_signature(&app, session_id).expect("signature kept");
    assert_eq!(address, safe.to_checksum(None));
    assert_eq!(sessions_list(&app).await[0]["contractWallet"], true);

    let new_owner = Wallet::random();
    lasts_until_the_owner_changes(&app, &kit, safe, &owner, &new_owner, session_id).await;

    // The new owner signs in to the same account and finds out why.
    let resp = sign_in_as_safe(&app, safe, &new_owner).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let events: Vec<Value> = app.get("/api/account/events").await.json().await.unwrap();
    let ended = events
        .iter()
        .find(|e| e["kind"] == "contract_session_ended")
        .unwrap_or_else(|| panic!("no contract_session_ended in {events:?}"));
    assert_eq!(ended["address"], safe.to_checksum(None).as_str());
    assert_eq!(ended["detail"], "chain 31337");
}

/// `session_id` (the app's session, opened by `safe`) passes a re-check while `owner` owns the
/// Safe; once `new_owner` replaces it, the next re-check ends the session and drops its kept
/// signature.
async fn lasts_until_the_owner_changes(
    app: &TestApp,
    kit: &SafeKit<'_>,
    safe: Address,
    owner: &Wallet,
    new_owner: &Wallet,
    session_id: &str,
) {
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!((report.valid, report.ended, report.unavailable), (1, 0, 0));
    assert_eq!(app.get("/api/auth/session").await.status(), StatusCode::OK);

    kit.swap_owner(safe, owner, wallet_address(new_owner)).await;
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!((report.valid, report.ended, report.unavailable), (0, 1, 0));
    let resp = app.get("/api/auth/session").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(kept_signature(app, session_id), None);
}

/// A Safe approves a sign-in from another device (pairing): the desktop's session, which the
/// claim opens, is a contract wallet's as a sign-in's is (the signature kept, in the claim's
/// transaction), and ends at the first re-check after the Safe's owner changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_session_a_safe_approved_ends_at_the_first_recheck_after_its_owner_changes() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(|s| with_chain(s, &anvil.url)).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;

    let created: Value = post(&app, "/api/pairings", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let body = json!({ "address": safe.to_checksum(None), "chainId": 31337 });
    let resp = post(&app, &format!("/api/pairings/{id}/challenge"), body).await;
    let challenge: Value = resp.json().await.unwrap();
    let message = challenge["message"].as_str().unwrap();
    let hash = siwe_hash(message);
    let signature = hex0x(&owner_signature(31337, safe, &owner, hash));
    let body = json!({ "message": message, "signature": signature });
    let resp = post(&app, &format!("/api/pairings/{id}/approve"), body).await;
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    assert!(kept_signatures(&app).is_empty(), "no session yet");

    let resp = post(
        &app,
        &format!("/api/pairings/{id}/claim"),
        json!({ "secret": created["secret"] }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let signed_in: Value = resp.json().await.unwrap();
    assert_eq!(signed_in["session"]["contractWallet"], true);
    let session_id = signed_in["session"]["id"].as_str().unwrap();
    let (address, kept_hash) = kept_signature(&app, session_id).expect("signature kept");
    assert_eq!(address, safe.to_checksum(None));
    assert_eq!(kept_hash, hash.to_vec());
    assert_eq!(sessions_list(&app).await[0]["contractWallet"], true);

    lasts_until_the_owner_changes(&app, &kit, safe, &owner, &Wallet::random(), session_id).await;
}

/// With `siwe.recheck_contract_sessions_secs`, the server re-checks by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recheck_loop_ends_the_session_by_itself() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(|s| {
        with_chain(s, &anvil.url);
        s.siwe.recheck_contract_sessions_secs = 1;
    })
    .await;
    let (owner, safe, _) = new_safe_signed_in(&app, &kit).await;
    kit.swap_owner(safe, &owner, wallet_address(&Wallet::random()))
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/api/auth/session").await.status() == StatusCode::OK {
        assert!(Instant::now() < deadline, "the session outlived its owner");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A re-authentication signed by the session's Safe replaces the signature kept: the re-check
/// asks about the newest one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthenticating_with_the_safe_replaces_the_kept_signature() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(|s| with_chain(s, &anvil.url)).await;
    let (owner, safe, signed_in) = new_safe_signed_in(&app, &kit).await;
    let session_id = signed_in["session"]["id"].as_str().unwrap();
    let csrf = signed_in["csrfToken"].as_str().unwrap();
    let (_, first_hash) = kept_signature(&app, session_id).unwrap();

    let challenge: Value = app
        .call(
            Method::POST,
            "/api/auth/reauthenticate/challenge",
            Some(csrf),
            Some(json!({})),
        )
        .await
        .json()
        .await
        .unwrap();
    let message = challenge["message"].as_str().unwrap();
    let hash = siwe_hash(message);
    let signature = hex0x(&owner_signature(31337, safe, &owner, hash));
    let body = json!({ "message": message, "signature": signature });
    let resp = app
        .call(
            Method::POST,
            "/api/auth/reauthenticate",
            Some(csrf),
            Some(body),
        )
        .await;
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    let (_, kept_hash) = kept_signature(&app, session_id).unwrap();
    assert_ne!(kept_hash, first_hash);
    assert_eq!(kept_hash, hash.to_vec());
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!(report.valid, 1);
}

/// A Safe not deployed yet signs in with an EIP-6492 signature: the wrapper is what is kept, so
/// the re-check asks the same way, before and after the Safe is deployed, and still ends the
/// session once its owner changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counterfactual_safe_session_is_rechecked_before_and_after_deployment() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(|s| with_chain(s, &anvil.url)).await;
    let owner = Wallet::random();
    let (safe, factory, calldata) = kit.counterfactual(&owner, 7).await;
    let message = message_for(&app, safe).await;
    let inner = owner_signature(31337, safe, &owner, siwe_hash(&message));
    let wrapped = eip6492_wrap(factory, &calldata, &inner);
    let resp = app.verify(&message, &hex0x(&wrapped)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let signed_in: Value = resp.json().await.unwrap();
    assert_eq!(signed_in["session"]["contractWallet"], true);
    let kept: Vec<u8> = app.sql_value("SELECT signature FROM contract_sessions");
    assert!(kept.ends_with(&EIP6492_MAGIC) && kept == wrapped);

    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!((report.valid, report.ended), (1, 0), "not deployed");
    assert_eq!(kit.create_safe(&owner, 7).await, safe);
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!((report.valid, report.ended), (1, 0), "deployed");
    kit.swap_owner(safe, &owner, wallet_address(&Wallet::random()))
        .await;
    let report = app.service.recheck_contract_sessions().await.unwrap();
    assert_eq!((report.valid, report.ended), (0, 1), "owner changed");
    assert_eq!(
        app.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
