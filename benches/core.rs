//! Microbenchmarks of the hot paths: `cargo bench` (figures in BENCHMARKS.md).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};
use siwe_server::{
    db::{nonces, Db},
    domain::{siwe, token::Keys},
};

fn signed_message() -> (String, String) {
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let address = signinwithethereum::eip55(
        &Keccak256::digest(&point.as_bytes()[1..])[12..]
            .try_into()
            .unwrap(),
    );
    let message = format!(
        "localhost:8080 wants you to sign in with your Ethereum account:\n{address}\n\nBench.\n\n\
         URI: http://localhost:8080\nVersion: 1\nChain ID: 1\nNonce: abcdefghijkl12345678\n\
         Issued At: 2026-11-23T00:00:00.000Z"
    );
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()));
    hasher.update(message.as_bytes());
    let (sig, recid) = key.sign_prehash_recoverable(&hasher.finalize()).unwrap();
    let mut bytes = sig.to_bytes().to_vec();
    bytes.push(27 + recid.to_byte());
    (message, format!("0x{}", hex::encode(bytes)))
}

fn benches(c: &mut Criterion) {
    let (message, signature) = signed_message();
    let sig = siwe::parse_signature(&signature).unwrap();
    // The crate's own parse (ours swaps the domain for its parser), for its own verify path.
    let crate_parsed: signinwithethereum::Message = message.parse().unwrap();

    c.bench_function("eip4361 parse (with grammar checks)", |b| {
        b.iter(|| siwe::parse_message(std::hint::black_box(&message)).unwrap())
    });
    c.bench_function("recover: eip191 hash + libsecp256k1", |b| {
        b.iter(|| siwe::recover_signer(std::hint::black_box(&message), &sig).unwrap())
    });
    c.bench_function(
        "recover: signinwithethereum (k256 0.13), for comparison",
        |b| {
            b.iter(|| {
                crate_parsed
                    .verify_eip191(std::hint::black_box(&sig))
                    .unwrap()
            })
        },
    );

    let keys = Keys::from_secret(&[1u8; 32]);
    let token = Keys::new_session_token();
    c.bench_function("session token MAC", |b| {
        b.iter(|| keys.session_token_hash(std::hint::black_box(&token)))
    });

    let dir = tempfile::TempDir::new().unwrap();
    let db = Arc::new(Db::open(&dir.path().join("bench.db"), 4).unwrap());
    let conn = db.conn().unwrap();
    let mut n = 0u64;
    c.bench_function("nonce issue + consume (SQLite, WAL)", |b| {
        b.iter(|| {
            n += 1;
            let nonce = format!("benchnonce{n:012}");
            let record = nonces::NonceRecord {
                expires_at: i64::MAX,
                purpose: nonces::SIGN_IN.into(),
                user_id: None,
                address: None,
            };
            nonces::insert(&conn, &nonce, 0, &record).unwrap();
            nonces::consume(&conn, &nonce).unwrap().unwrap();
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
