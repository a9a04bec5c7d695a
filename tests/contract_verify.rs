//! The verification rules for signatures no key made, through the real router: without an RPC
//! endpoint they are unsupported (and spend their nonce), a key-sized wrong signature is refused
//! as before; hanging and dead endpoints answer chain_unavailable within the timeout; on a real
//! anvil, EIP-1271 (a Safe, a contract with the wrong magic value, no code, one that loops
//! forever) and EIP-6492 (a Safe not deployed yet) decide, for signing in, linking and
//! re-authenticating alike.

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use common::{
    anvil::{message_on_chain, serve_chain, Anvil},
    contracts::{self, dead_rpc_url, HangingRpc},
    error_code, expect_error,
    safe::{eip6492_wrap, hex0x, owner_signature, siwe_hash, SafeKit},
    MessageSpec, TestApp, Wallet,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use siwe_server::Settings;

/// `[chains."31337"]` with these endpoints and timeout; messages on chain 31337 only.
fn with_chain(urls: Vec<String>, timeout_ms: u64) -> impl FnOnce(&mut Settings) {
    move |settings| {
        serve_chain(settings, 31337, urls, timeout_ms);
        settings.siwe.chain_ids = vec![31337];
    }
}

/// A message for `address` on `chain_id` with a fresh nonce.
async fn message_for(app: &TestApp, address: &str, chain_id: u64) -> String {
    message_on_chain(app, address, chain_id).await
}

fn eip55(address: Address) -> String {
    address.to_checksum(None)
}

async fn code_of(resp: Response) -> String {
    error_code(resp).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_rpc_only_key_signatures_are_checked() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();

    // A key-sized signature by another key: invalid_signature, and the nonce still works.
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    let other = Wallet::random().sign(&message);
    expect_error(
        app.verify(&message, &other).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;
    let signed = app.verify(&message, &wallet.sign(&message)).await;
    assert_eq!(signed.status(), StatusCode::OK);

    // A longer one may be a contract wallet's: unsupported here, and its nonce is spent.
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    let long = hex0x(&[0x5a; 200]);
    let resp = app.verify(&message, &long).await;
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "contract_wallet_unsupported");
    assert!(body["message"].as_str().unwrap().contains("chain 1"));
    expect_error(
        app.verify(&message, &wallet.sign(&message)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;

    // So is an EIP-6492 wrapper, even one of key size.
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    let wrapped = [vec![1u8; 33], common::safe::EIP6492_MAGIC.to_vec()].concat();
    assert_eq!(wrapped.len(), 65);
    let resp = app.verify(&message, &hex0x(&wrapped)).await;
    assert_eq!(code_of(resp).await, "contract_wallet_unsupported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_longer_than_the_limit_are_a_format_error() {
    let app = TestApp::spawn_with(|s| s.siwe.max_signature_bytes = 100).await;
    let wallet = Wallet::random();
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    let resp = app.verify(&message, &hex0x(&[1; 101])).await;
    let (status, body) = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_signature_format");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("65 to 100 bytes"));
    // Nothing was spent.
    let signed = app.verify(&message, &wallet.sign(&message)).await;
    assert_eq!(signed.status(), StatusCode::OK);

    // The default limit (8192 bytes) fits in a body.
    let app = TestApp::spawn().await;
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    let resp = app.verify(&message, &hex0x(&[1; 8192])).await;
    assert_eq!(code_of(resp).await, "contract_wallet_unsupported");
    let resp = app.verify(&message, &hex0x(&[1; 8193])).await;
    assert_eq!(code_of(resp).await, "invalid_signature_format");
}

/// Posts a contract-sized signature and checks the 503 came within `within`.
async fn expect_unavailable(app: &TestApp, message: &str, at_least: Duration, within: Duration) {
    let started = Instant::now();
    let resp = app.verify(message, &hex0x(&[7; 200])).await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(code_of(resp).await, "chain_unavailable");
    assert!(elapsed >= at_least && elapsed < within, "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_rpc_is_unavailable_within_its_timeout_and_the_nonce_is_spent() {
    let hanging = HangingRpc::start().await;
    let app = TestApp::spawn_with(with_chain(vec![hanging.url.clone()], 500)).await;
    let wallet = Wallet::random();
    let message = message_for(&app, &wallet.address, 31337).await;
    let margin = Duration::from_millis(1500);
    expect_unavailable(
        &app,
        &message,
        Duration::from_millis(500),
        Duration::from_millis(500) + margin,
    )
    .await;
    expect_error(
        app.verify(&message, &wallet.sign(&message)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
    // A key's signature never waits for the chain.
    let message = message_for(&app, &wallet.address, 31337).await;
    let started = Instant::now();
    assert_eq!(
        app.verify(&message, &wallet.sign(&message)).await.status(),
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_refusal_is_answered_without_asking_the_chain() {
    let hanging = HangingRpc::start().await;
    let app = TestApp::spawn_with(with_chain(vec![hanging.url.clone()], 2000)).await;
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.chain_id = "31337".into();
    spec.domain = "evil.example".into();
    let message = spec.render();
    let started = Instant::now();
    let resp = app.verify(&message, &hex0x(&[7; 200])).await;
    assert_eq!(code_of(resp).await, "domain_mismatch");
    assert!(started.elapsed() < Duration::from_millis(1000));
    // Spent all the same.
    let resp = app.verify(&message, &hex0x(&[7; 200])).await;
    assert_eq!(code_of(resp).await, "invalid_nonce");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_then_a_hanging_one_are_both_tried() {
    let hanging = HangingRpc::start().await;
    let urls = vec![dead_rpc_url(), hanging.url.clone()];
    let app = TestApp::spawn_with(with_chain(urls, 400)).await;
    let message = message_for(&app, &Wallet::random().address, 31337).await;
    expect_unavailable(
        &app,
        &message,
        Duration::from_millis(400),
        Duration::from_millis(1900),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_signs_in_and_the_contract_s_refusals_are_invalid_signatures() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(with_chain(vec![anvil.url.clone()], 3000)).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;

    // The owner's signature through EIP-1271: signed in as the Safe.
    let message = message_for(&app, &eip55(safe), 31337).await;
    let signature = owner_signature(31337, safe, &owner, siwe_hash(&message));
    let resp = app.verify(&message, &hex0x(&signature)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["session"]["address"], eip55(safe));
    assert_eq!(body["session"]["contractWallet"], true);
    // The same message again: its nonce is spent.
    let again = app.verify(&message, &hex0x(&signature)).await;
    assert_eq!(code_of(again).await, "invalid_nonce");

    // Racing requests with one message: one success, the others refused before the chain.
    let message = message_for(&app, &eip55(safe), 31337).await;
    let signature = hex0x(&owner_signature(31337, safe, &owner, siwe_hash(&message)));
    let racing = (0..4).map(|_| app.verify(&message, &signature));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(racing)
        .await
        .iter()
        .map(|resp| resp.status())
        .collect();
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(won, 1, "{statuses:?}");

    // A stranger's: the Safe refuses it (a revert), recorded in the Safe's account's log.
    let message = message_for(&app, &eip55(safe), 31337).await;
    let stranger = owner_signature(31337, safe, &Wallet::random(), siwe_hash(&message));
    let resp = app.verify(&message, &hex0x(&stranger)).await;
    assert_eq!(code_of(resp).await, "invalid_signature");
    let events: Value = app.get("/api/account/events").await.json().await.unwrap();
    assert_eq!(events[0]["kind"], "sign_in_failed");
    assert_eq!(events[0]["detail"], "invalid_signature");

    // An owner's signature over another message is refused too.
    let message = message_for(&app, &eip55(safe), 31337).await;
    let resp = app.verify(&message, &signature).await;
    assert_eq!(code_of(resp).await, "invalid_signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eip1271_answers_other_than_the_magic_value_are_refusals() {
    let anvil = Anvil::start().await;
    let app = TestApp::spawn_with(with_chain(vec![anvil.url.clone()], 3000)).await;
    let at = |byte| Address::repeat_byte(byte);
    anvil.set_code(at(0xa1), contracts::WRONG_MAGIC).await;
    anvil.set_code(at(0xa2), contracts::ALWAYS_REVERTS).await;
    anvil.set_code(at(0xa3), contracts::LOOPS_FOREVER).await;
    // 0xa4 has no code: an EOA's wrong signature, asked of the chain since it has an RPC.
    let tries = [
        (0xa1, 65),
        (0xa1, 300),
        (0xa2, 65),
        (0xa3, 65),
        (0xa4, 65),
        (0xa4, 300),
    ];
    for (byte, length) in tries {
        let address = at(byte);
        let message = message_for(&app, &eip55(address), 31337).await;
        let signature = hex0x(&vec![1u8; length]);
        let resp = app.verify(&message, &signature).await;
        assert_eq!(
            code_of(resp).await,
            "invalid_signature",
            "{address} {length}"
        );
        // The try spent the nonce: the next is refused before the chain is asked.
        let resp = app.verify(&message, &signature).await;
        assert_eq!(code_of(resp).await, "invalid_nonce", "{address} {length}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_not_deployed_yet_signs_in_with_eip6492() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(with_chain(vec![anvil.url.clone()], 3000)).await;
    let owner = Wallet::random();
    let (future, factory, calldata) = kit.counterfactual(&owner, 7).await;
    assert!(anvil.code_at(future).await.is_empty());

    let message = message_for(&app, &eip55(future), 31337).await;
    let inner = owner_signature(31337, future, &owner, siwe_hash(&message));
    let resp = app
        .verify(&message, &hex0x(&eip6492_wrap(factory, &calldata, &inner)))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Asked with eth_call: still not deployed.
    assert!(anvil.code_at(future).await.is_empty());

    // A stranger's signature in the same wrapper is refused.
    let message = message_for(&app, &eip55(future), 31337).await;
    let stranger = owner_signature(31337, future, &Wallet::random(), siwe_hash(&message));
    let wrapped = eip6492_wrap(factory, &calldata, &stranger);
    let resp = app.verify(&message, &hex0x(&wrapped)).await;
    assert_eq!(code_of(resp).await, "invalid_signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_links_to_an_account_and_re_authenticates_it() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let app = TestApp::spawn_with(with_chain(vec![anvil.url.clone()], 3000)).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 3).await;
    let key = Wallet::random();
    let message = message_for(&app, &key.address, 31337).await;
    let signed_in: Value = app
        .verify(&message, &key.sign(&message))
        .await
        .json()
        .await
        .unwrap();
    let csrf = signed_in["csrfToken"].as_str().unwrap().to_string();

    let message = app.link_challenge(&csrf, &eip55(safe)).await;
    let signature = owner_signature(31337, safe, &owner, siwe_hash(&message));
    let body = json!({ "message": message, "signature": hex0x(&signature) });
    let resp = app
        .call(Method::POST, "/api/wallets", Some(&csrf), Some(body))
        .await;
    assert!(resp.status().is_success(), "{:?}", resp.text().await);

    let resp = app
        .call(
            Method::POST,
            "/api/auth/reauthenticate/challenge",
            Some(&csrf),
            Some(json!({ "address": eip55(safe) })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let challenge: Value = resp.json().await.unwrap();
    let message = challenge["message"].as_str().unwrap().to_string();
    let signature = owner_signature(31337, safe, &owner, siwe_hash(&message));
    let body = json!({ "message": message, "signature": hex0x(&signature) });
    let resp = app
        .call(
            Method::POST,
            "/api/auth/reauthenticate",
            Some(&csrf),
            Some(body),
        )
        .await;
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
}
