//! ENS names end to end on a real anvil node with the published ENS contracts: a wallet's
//! primary name appears in the API, as the default display name and on the consent page after
//! it signs in; a reverse record the name does not confirm shows nothing; a chain that is down
//! never slows a sign-in; an expired entry is resolved again.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use common::{
    anvil::{serve_chain, Anvil},
    contracts::HangingRpc,
    ens::EnsKit,
    oidc_front::{self, consent_page, request, APP_CB},
    TestApp, Wallet,
};
use serde_json::Value;

const AVATAR: &str = "https://avatars.example/alice.png";

/// Resolves names on `rpc_url` (chain 31337) with the registry at `registry`.
fn ens_settings(settings: &mut siwe_server::Settings, rpc_url: &str, registry: Address) {
    serve_chain(settings, 31337, vec![rpc_url.to_string()], 2000);
    settings.ens.chain_id = 31337;
    settings.ens.registry = registry.to_string();
    settings.ens.ttl_secs = 3600;
    settings.database.cleanup_interval_secs = 1;
}

fn address_of(wallet: &Wallet) -> Address {
    wallet.address.parse().unwrap()
}

/// GET /api/account until `done` holds for it (the name is resolved in the background).
async fn account_when(app: &TestApp, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let account: Value = app.get("/api/account").await.json().await.unwrap();
        if done(&account) {
            return account;
        }
        assert!(Instant::now() < deadline, "not resolved in time: {account}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wallet_name(account: &Value) -> &Value {
    &account["wallets"][0]["ensName"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_name_is_shown_in_the_api_and_on_the_consent_page() {
    let anvil = Anvil::start().await;
    let kit = EnsKit::deploy(&anvil).await;
    let wallet = Wallet::random();
    kit.register("alice", address_of(&wallet), AVATAR, address_of(&wallet))
        .await;
    kit.set_primary_name(&wallet, "alice.eth").await;
    let app = oidc_front::spawn_with(|s| ens_settings(s, &anvil.url, kit.registry)).await;

    let signed_in = app.sign_in(&wallet).await;
    // Resolved after the answer, so the sign-in itself names nobody yet.
    assert_eq!(signed_in["user"]["wallets"][0]["ensName"], Value::Null);

    let account = account_when(&app, |a| wallet_name(a) == "alice.eth").await;
    assert_eq!(account["wallets"][0]["ensAvatar"], AVATAR);
    assert_eq!(account["wallets"][0]["address"], wallet.address.as_str());
    assert_eq!(account["name"], "alice.eth", "the default display name");
    let session: Value = app.get("/api/auth/session").await.json().await.unwrap();
    assert_eq!(session["session"]["ensName"], "alice.eth");
    assert_eq!(session["user"]["name"], "alice.eth");
    let sessions: Value = app.get("/api/auth/sessions").await.json().await.unwrap();
    assert_eq!(sessions[0]["ensName"], "alice.eth");
    let page = consent_page(&app, &request("app", APP_CB).to_string()).await;
    assert!(page.contains("<strong>alice.eth</strong>"), "{page}");

    // A name the person chose wins over the ENS name.
    let csrf = session["csrfToken"].as_str().unwrap();
    let renamed = app
        .call(
            reqwest::Method::PUT,
            "/api/account",
            Some(csrf),
            Some(serde_json::json!({"name": "Alice"})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert_eq!(account["name"], "Alice");
    assert_eq!(wallet_name(&account), "alice.eth");

    // A linked wallet is resolved too.
    let second = Wallet::random();
    kit.register("bob", address_of(&second), AVATAR, address_of(&second))
        .await;
    kit.set_primary_name(&second, "bob.eth").await;
    assert_eq!(app.link(csrf, &second).await.status(), 201);
    let account = account_when(&app, |a| a["wallets"][1]["ensName"] == "bob.eth").await;
    assert_eq!(account["wallets"][1]["address"], second.address.as_str());
    let events: Value = app.get("/api/account/events").await.json().await.unwrap();
    let linked = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "wallet_linked")
        .unwrap();
    assert_eq!(linked["ensName"], "bob.eth");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverse_record_whose_name_points_elsewhere_names_nobody() {
    let anvil = Anvil::start().await;
    let kit = EnsKit::deploy(&anvil).await;
    let claimer = Wallet::random();
    let owner = Wallet::random();
    // vitalik.eth is owner's; claimer's reverse record claims it anyway.
    kit.register("vitalik", address_of(&owner), AVATAR, address_of(&owner))
        .await;
    kit.set_primary_name(&claimer, "vitalik.eth").await;
    kit.set_primary_name(&owner, "vitalik.eth").await;
    let app = TestApp::spawn_with(|s| ens_settings(s, &anvil.url, kit.registry)).await;

    app.sign_in(&claimer).await;
    app.sign_in(&owner).await;
    // One resolver works through the queue in order: once owner's name is in, claimer's
    // lookup has finished too.
    account_when(&app, |a| wallet_name(a) == "vitalik.eth").await;
    app.sign_in(&claimer).await;
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert_eq!(account["wallets"][0]["address"], claimer.address.as_str());
    assert_eq!(wallet_name(&account), &Value::Null, "{account}");
    assert_ne!(account["name"], "vitalik.eth");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_that_hangs_never_slows_a_sign_in() {
    let hanging = HangingRpc::start().await;
    let app = TestApp::spawn_with(|s| ens_settings(s, &hanging.url, Address::repeat_byte(7))).await;
    let wallet = Wallet::random();

    let started = Instant::now();
    app.sign_in(&wallet).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the sign-in waited for the chain: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert_eq!(wallet_name(&account), &Value::Null);
    assert_eq!(account["name"], short(&wallet.address));
}

fn short(address: &str) -> String {
    format!("{}…{}", &address[..6], &address[address.len() - 4..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_name_is_resolved_again() {
    let anvil = Anvil::start().await;
    let kit = EnsKit::deploy(&anvil).await;
    let wallet = Wallet::random();
    let address = address_of(&wallet);
    kit.register("alice", address, AVATAR, address).await;
    kit.register("alicia", address, AVATAR, address).await;
    kit.set_primary_name(&wallet, "alice.eth").await;
    let app = TestApp::spawn_with(|s| ens_settings(s, &anvil.url, kit.registry)).await;
    app.sign_in(&wallet).await;
    account_when(&app, |a| wallet_name(a) == "alice.eth").await;

    kit.set_primary_name(&wallet, "alicia.eth").await;
    // Cached: a new sign-in (or the upkeep) does not ask the chain again before the TTL.
    app.sign_in(&wallet).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert_eq!(wallet_name(&account), "alice.eth");

    app.advance_clock(3601);
    account_when(&app, |a| wallet_name(a) == "alicia.eth").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_name_survives_a_chain_outage() {
    let anvil = Anvil::start().await;
    let kit = EnsKit::deploy(&anvil).await;
    let wallet = Wallet::random();
    kit.register("alice", address_of(&wallet), AVATAR, address_of(&wallet))
        .await;
    kit.set_primary_name(&wallet, "alice.eth").await;
    let registry = kit.registry;
    let app = TestApp::spawn_with(|s| ens_settings(s, &anvil.url, registry)).await;
    app.sign_in(&wallet).await;
    account_when(&app, |a| wallet_name(a) == "alice.eth").await;

    drop(anvil);
    app.advance_clock(3601);
    // The upkeep (every second) finds the entry expired and fails to reach the chain.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert_eq!(
        wallet_name(&account),
        "alice.eth",
        "kept until the chain answers"
    );
}
