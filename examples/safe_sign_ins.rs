//! Times sequential sign-ins against a local anvil on loopback: N by a plain key (no RPC), N by
//! a deployed Safe 1.4.1 (EIP-1271 `eth_call`) and N by a counterfactual Safe (EIP-6492, the
//! deployment simulated on every check). One client, one request at a time; only the verify
//! request is timed (nonce fetched and message signed before). Reuses the test harness
//! (tests/common), so it needs the chain suite: `bash tests/suites/setup.sh`.
//!
//! cargo run --release --example safe_sign_ins -- [N]   (default 200)

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use common::{
    anvil::{serve_chain, Anvil},
    safe::{eip6492_wrap, hex0x, owner_signature, siwe_hash, SafeKit},
    MessageSpec, TestApp, Wallet,
};

/// Who signs: the owner's key itself, the deployed Safe, or the Safe not deployed yet.
enum Signer {
    Key,
    Safe(Address),
    Counterfactual(Address, Address, Vec<u8>),
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(200);
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;
    let (future, factory, calldata) = kit.counterfactual(&owner, 2).await;
    let app =
        TestApp::spawn_with(|s| serve_chain(s, anvil.chain_id, vec![anvil.url.clone()], 3000))
            .await;

    println!("{n} sequential sign-ins each, verify request only, one client, anvil on loopback");
    println!("signer                  per s   mean ms   p50 ms   p90 ms   p99 ms   max ms");
    for (name, signer) in [
        ("key (EOA, no RPC)", Signer::Key),
        ("Safe (EIP-1271)", Signer::Safe(safe)),
        (
            "counterfactual (6492)",
            Signer::Counterfactual(future, factory, calldata),
        ),
    ] {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let mut spec = MessageSpec::new(&owner, &app.nonce().await);
            spec.chain_id = anvil.chain_id.to_string();
            let signature = match &signer {
                Signer::Key => owner.sign(&spec.render()),
                Signer::Safe(safe) => {
                    spec.address = safe.to_checksum(None);
                    let hash = siwe_hash(&spec.render());
                    hex0x(&owner_signature(anvil.chain_id, *safe, &owner, hash))
                }
                Signer::Counterfactual(future, factory, calldata) => {
                    spec.address = future.to_checksum(None);
                    let hash = siwe_hash(&spec.render());
                    let inner = owner_signature(anvil.chain_id, *future, &owner, hash);
                    hex0x(&eip6492_wrap(*factory, calldata, &inner))
                }
            };
            let message = spec.render();
            let started = Instant::now();
            let resp = app.verify(&message, &signature).await;
            times.push(started.elapsed());
            assert_eq!(resp.status(), reqwest::StatusCode::OK, "{name} sign-in");
        }
        report(name, &mut times);
    }
    app.stop().await;
}

fn report(name: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(times[((times.len() as f64 * q) as usize).min(times.len() - 1)]);
    let total: Duration = times.iter().sum();
    println!(
        "{name:<22} {:>6.0} {:>9.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        times.len() as f64 / total.as_secs_f64(),
        ms(total) / times.len() as f64,
        at(0.5),
        at(0.9),
        at(0.99),
        ms(times[times.len() - 1]),
    );
}
