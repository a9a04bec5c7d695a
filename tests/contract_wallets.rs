//! Smart-contract wallets end to end: Safe 1.4.1 accounts on a real anvil node sign in through
//! the real router (EIP-1271), counterfactual Safes with EIP-6492 signatures, contracts that
//! refuse or misbehave, and JSON-RPC endpoints that hang or are down.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use common::{
    anvil::{message_on_chain, serve_chain, Anvil},
    contracts::{self, dead_rpc_url, HangingRpc},
    expect_error,
    safe::{eip6492_wrap, hex0x, owner_signature, siwe_hash, wallet_address, SafeKit},
    MessageSpec, TestApp, Wallet,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CHAIN: u64 = 31337;

/// A server whose chain 31337 is served by `urls`, tried in order, each given `timeout_ms`.
async fn app_with_rpc(urls: Vec<String>, timeout_ms: u64) -> TestApp {
    TestApp::spawn_with(|s| serve_chain(s, CHAIN, urls, timeout_ms)).await
}

async fn app_for(anvil: &Anvil) -> TestApp {
    app_with_rpc(vec![anvil.url.clone()], 2000).await
}

/// A sign-in message on chain 31337 for `account` (a contract's address) with a fresh nonce.
async fn message_for(app: &TestApp, account: Address) -> String {
    message_on_chain(app, &account.to_checksum(None), CHAIN).await
}

/// `owner`'s signature of `message` as the Safe at `safe` checks it.
fn safe_signed(safe: Address, owner: &Wallet, message: &str) -> String {
    hex0x(&owner_signature(CHAIN, safe, owner, siwe_hash(message)))
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_signs_in_and_its_session_works() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = app_for(&anvil).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;

    let message = message_for(&app, safe).await;
    let signature = safe_signed(safe, &owner, &message);
    let resp = app.verify(&message, &signature).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json_of(resp).await;
    let checksummed = safe.to_checksum(None);
    assert_eq!(body["session"]["address"], checksummed.as_str());
    assert_eq!(body["session"]["chainId"], CHAIN);
    assert_eq!(body["user"]["wallets"][0]["address"], checksummed.as_str());
    let session = json_of(app.get("/api/auth/session").await).await;
    assert_eq!(session["session"]["address"], checksummed.as_str());

    // The nonce is spent: the same signed message again is refused.
    expect_error(
        app.verify(&message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_owner_swap_the_old_owner_no_longer_signs_for_the_safe() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = app_for(&anvil).await;
    let (old_owner, new_owner) = (Wallet::random(), Wallet::random());
    let safe = kit.create_safe(&old_owner, 1).await;
    let message = message_for(&app, safe).await;
    let resp = app
        .verify(&message, &safe_signed(safe, &old_owner, &message))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);

    kit.swap_owner(safe, &old_owner, wallet_address(&new_owner))
        .await;
    let message = message_for(&app, safe).await;
    let by_old = safe_signed(safe, &old_owner, &message);
    expect_error(
        app.verify(&message, &by_old).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;
    // The refusal is in the Safe's account's log, and its nonce is spent.
    let events = json_of(app.get("/api/account/events").await).await;
    assert_eq!(events[0]["kind"], "sign_in_failed", "{events}");
    expect_error(
        app.verify(&message, &safe_signed(safe, &new_owner, &message))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;

    let message = message_for(&app, safe).await;
    let resp = app
        .verify(&message, &safe_signed(safe, &new_owner, &message))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counterfactual_safe_signs_in_with_eip6492_and_nothing_is_deployed() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = app_for(&anvil).await;
    let owner = Wallet::random();
    let (safe, factory, calldata) = kit.counterfactual(&owner, 7).await;
    assert!(anvil.code_at(safe).await.is_empty(), "not deployed before");

    let message = message_for(&app, safe).await;
    let inner = owner_signature(CHAIN, safe, &owner, siwe_hash(&message));
    let signature = hex0x(&eip6492_wrap(factory, &calldata, &inner));
    let resp = app.verify(&message, &signature).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        json_of(resp).await["session"]["address"],
        safe.to_checksum(None).as_str()
    );
    assert!(
        anvil.code_at(safe).await.is_empty(),
        "the check simulated the deployment, it did not send it"
    );

    // Wrapped around a stranger's signature, the same deployment is refused.
    let message = message_for(&app, safe).await;
    let stranger = owner_signature(CHAIN, safe, &Wallet::random(), siwe_hash(&message));
    let signature = hex0x(&eip6492_wrap(factory, &calldata, &stranger));
    expect_error(
        app.verify(&message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;
}

/// Each contract is asked twice: its refusal is `invalid_signature`, then the nonce is spent.
async fn refused_by(code: &[u8]) {
    let anvil = Anvil::start().await;
    let app = app_for(&anvil).await;
    let contract = Address::repeat_byte(0xc0);
    anvil.set_code(contract, code).await;
    let message = message_for(&app, contract).await;
    let signature = hex0x(&[0x11; 65]);
    let started = Instant::now();
    expect_error(
        app.verify(&message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2), "no retry loop");
    expect_error(
        app.verify(&message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_returning_another_value_refuses() {
    refused_by(contracts::WRONG_MAGIC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_that_reverts_refuses() {
    refused_by(contracts::ALWAYS_REVERTS).await;
}

/// Anvil reports it as `{"code":-32603,"message":"EVM error OutOfGas"}`: still the contract's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_that_runs_out_of_gas_refuses() {
    refused_by(contracts::LOOPS_FOREVER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_without_code_and_a_bad_signature_is_refused_and_the_server_goes_on() {
    let anvil = Anvil::start().await;
    let app = app_for(&anvil).await;
    let nobody = Wallet::random();
    let message = message_for(&app, wallet_address(&nobody)).await;
    // Signed by another key: recovers to someone else, and the address has no code.
    let signature = Wallet::random().sign(&message);
    expect_error(
        app.verify(&message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;
    // Bytes that recover to no key at all.
    let message = message_for(&app, wallet_address(&nobody)).await;
    expect_error(
        app.verify(&message, &hex0x(&[0xff; 65])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;

    let mut spec = MessageSpec::new(&nobody, &app.nonce().await);
    spec.chain_id = CHAIN.to_string();
    assert_eq!(
        app.verify_spec(&nobody, &spec).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_rpc_is_chain_unavailable_within_its_timeout() {
    let hanging = HangingRpc::start().await;
    let timeout_ms = 1000;
    let app = app_with_rpc(vec![hanging.url.clone()], timeout_ms).await;
    let message = message_for(&app, Address::repeat_byte(0x5a)).await;

    let started = Instant::now();
    let resp = app.verify(&message, &hex0x(&[0x11; 65])).await;
    let elapsed = started.elapsed();
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable").await;
    assert!(
        elapsed < Duration::from_millis(timeout_ms + 3000),
        "answered in {elapsed:?}"
    );

    // A message the policy refuses is answered without asking the chain: at once, not 503.
    let mut spec = MessageSpec::new(&Wallet::random(), &app.nonce().await);
    (spec.domain, spec.chain_id) = ("evil.example".into(), CHAIN.to_string());
    let started = Instant::now();
    let resp = app.verify(&spec.render(), &hex0x(&[0x11; 65])).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "domain_mismatch").await;
    assert!(started.elapsed() < Duration::from_millis(timeout_ms / 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_answered_by_another_chain_id_is_unavailable() {
    let other = Anvil::start_with_chain_id(1).await;
    let app = app_with_rpc(vec![other.url.clone()], 2000).await;
    let message = message_for(&app, Address::repeat_byte(0x5b)).await;
    expect_error(
        app.verify(&message, &hex0x(&[0x11; 65])).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "chain_unavailable",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_rpc_url_answers_when_the_first_hangs_or_is_down() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;
    let hanging = HangingRpc::start().await;
    for first in [hanging.url.clone(), dead_rpc_url()] {
        let app = app_with_rpc(vec![first, anvil.url.clone()], 1000).await;
        let message = message_for(&app, safe).await;
        let resp = app
            .verify(&message, &safe_signed(safe, &owner, &message))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_rpc_for_the_chain_only_longer_signatures_are_unsupported() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;
    let app = TestApp::spawn().await;

    // A 65-byte signature is judged as an EOA's: invalid, nonce kept (the same again: invalid).
    let message = message_for(&app, safe).await;
    let signature = safe_signed(safe, &owner, &message);
    for _ in 0..2 {
        expect_error(
            app.verify(&message, &signature).await,
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        )
        .await;
    }

    // An EIP-6492 signature needs the chain: unsupported, and the nonce is spent.
    let (future, factory, calldata) = kit.counterfactual(&owner, 2).await;
    let message = message_for(&app, future).await;
    let inner = owner_signature(CHAIN, future, &owner, siwe_hash(&message));
    let signature = hex0x(&eip6492_wrap(factory, &calldata, &inner));
    expect_error(
        app.verify(&message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "contract_wallet_unsupported",
    )
    .await;
    expect_error(
        app.verify(&message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_verifies_of_one_safe_message_give_one_session() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = app_for(&anvil).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;
    let message = message_for(&app, safe).await;
    let signature = safe_signed(safe, &owner, &message);

    let post = |client: reqwest::Client| {
        let body = json!({ "message": message, "signature": signature });
        let url = app.url("/api/auth/verify");
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let (a, b) = tokio::join!(post(common::cookie_client()), post(common::cookie_client()));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    let refused = if a.status() == StatusCode::OK { b } else { a };
    expect_error(refused, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_is_linked_to_a_signed_in_account() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = app_for(&anvil).await;
    let (me, owner) = (Wallet::random(), Wallet::random());
    let safe = kit.create_safe(&owner, 1).await;
    let signed_in = app.sign_in(&me).await;
    let csrf = signed_in["csrfToken"].as_str().unwrap();

    let challenge = json_of(
        app.call(
            Method::POST,
            "/api/wallets/challenge",
            Some(csrf),
            Some(json!({ "address": safe.to_checksum(None), "chainId": CHAIN })),
        )
        .await,
    )
    .await;
    let message = challenge["message"].as_str().unwrap();
    let resp = app
        .call(
            Method::POST,
            "/api/wallets",
            Some(csrf),
            Some(json!({ "message": message, "signature": safe_signed(safe, &owner, message) })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let wallets = json_of(app.get("/api/wallets").await).await;
    let safe = safe.to_checksum(None);
    let listed = wallets.as_array().unwrap();
    assert!(
        listed.iter().any(|w| w["address"] == safe.as_str()),
        "{wallets}"
    );
}
