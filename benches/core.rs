//! Microbenchmarks of the hot paths: `cargo bench` (figures in BENCHMARKS.md).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};
use siwe_server::{
    db::nonces,
    domain::{address::Address, siwe, token::Keys},
    keys::{JwtKeys, SigningAlg},
    open_service,
    service::{ClientInfo, Service, SignInOutcome, SignInRequest},
    Settings,
};
use tokio::runtime::Runtime;

/// The EIP-55 address of a key.
fn address_of(key: &SigningKey) -> Address {
    let point = key.verifying_key().to_encoded_point(false);
    Address::from_bytes(
        Keccak256::digest(&point.as_bytes()[1..])[12..]
            .try_into()
            .unwrap(),
    )
}

/// An EIP-191 personal_sign signature of `message`, as a wallet returns it.
fn sign(key: &SigningKey, message: &str) -> String {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()));
    hasher.update(message.as_bytes());
    let (sig, recid) = key.sign_prehash_recoverable(&hasher.finalize()).unwrap();
    let mut bytes = sig.to_bytes().to_vec();
    bytes.push(27 + recid.to_byte());
    format!("0x{}", hex::encode(bytes))
}

fn signed_message() -> (String, String) {
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let message = format!(
        "localhost:8080 wants you to sign in with your Ethereum account:\n{}\n\nBench.\n\n\
         URI: http://localhost:8080\nVersion: 1\nChain ID: 1\nNonce: abcdefghijkl12345678\n\
         Issued At: 2026-11-23T00:00:00.000Z",
        address_of(&key)
    );
    let signature = sign(&key, &message);
    (message, signature)
}

/// A sign-in request on a fresh nonce, signed by a fresh key (a new account each time).
fn fresh_sign_in(rt: &Runtime, service: &Service) -> SignInRequest {
    let issued = rt.block_on(service.issue_nonce()).unwrap();
    let key = SigningKey::random(&mut rand_core::OsRng);
    let message = siwe::build_message(&siwe::MessageParts {
        domain: &issued.domain,
        address: address_of(&key),
        statement: "Bench.",
        uri: &issued.uri,
        chain_id: 1,
        nonce: &issued.nonce,
        issued_at: time::OffsetDateTime::now_utc(),
        expiration_time: None,
    })
    .unwrap();
    SignInRequest {
        signature: sign(&key, &message),
        message,
        link_to: None,
        email: None,
        client: ClientInfo::default(),
    }
}

fn benches(c: &mut Criterion) {
    let (message, signature) = signed_message();
    let sig: [u8; 65] = siwe::parse_signature(&signature, siwe::KEY_SIGNATURE_BYTES)
        .unwrap()
        .try_into()
        .unwrap();
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
    let token = Keys::new_token(1_795_000_000_000);
    c.bench_function("session token key (HMAC-SHA256)", |b| {
        b.iter(|| keys.session_token_key(std::hint::black_box(&token)))
    });

    // The service layer on a real SQLite file, as the server runs it, without HTTP.
    let dir = tempfile::TempDir::new().unwrap();
    jwt_benches(c, dir.path());
    let mut settings = Settings::default();
    settings.database.path = dir.path().join("bench.db");
    let rt = Runtime::new().unwrap();
    let service = Arc::new(
        rt.block_on(open_service(
            &settings.validate().unwrap(),
            siwe_server::clock::Clock::system(),
        ))
        .unwrap(),
    );

    c.bench_function("nonce issue (HMAC; nothing stored)", |b| {
        b.iter(|| rt.block_on(service.issue_nonce()).unwrap())
    });
    c.bench_function("nonce spend (one queued write, committed)", |b| {
        b.iter_batched(
            || rt.block_on(service.issue_nonce()).unwrap().nonce,
            |nonce| {
                let spent = rt.block_on(
                    service
                        .db()
                        .write(move |conn| nonces::spend(conn, &nonce, i64::MAX)),
                );
                assert!(spent.unwrap());
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function(
        "verify: a whole sign-in through the service (new account)",
        |b| {
            b.iter_batched(
                || fresh_sign_in(&rt, &service),
                |request| rt.block_on(service.sign_in(request)).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    let token = match rt
        .block_on(service.sign_in(fresh_sign_in(&rt, &service)))
        .unwrap()
    {
        SignInOutcome::SignedIn(signed_in) => signed_in.token,
        SignInOutcome::EmailLinkSent { .. } => unreachable!("no email given"),
    };
    c.bench_function("session check (cookie token -> session and account)", |b| {
        b.iter(|| {
            rt.block_on(service.authenticate(std::hint::black_box(&token)))
                .unwrap()
        })
    });
}

/// Signing and verifying an ID-token-sized JWT with each algorithm (keys from the key file).
fn jwt_benches(c: &mut Criterion, data_dir: &std::path::Path) {
    let clock = siwe_server::clock::Clock::system();
    let jwt = JwtKeys::open(data_dir, 600, clock.clone()).unwrap();
    let iat = clock.now().unix_timestamp();
    let claims = serde_json::json!({"iss": "https://login.example.org", "sub": "0190d5a2-7c1e-7b3a",
        "aud": "grafana", "iat": iat, "exp": iat + 600, "auth_time": iat, "nonce": "n-0S6_WzA2Mj",
        "amr": ["pop"], "at_hash": "77QmUPtjPfzWtF2AnpK9RQ"});
    for (alg, name) in [
        (SigningAlg::Rs256, "RS256 (RSA-2048)"),
        (SigningAlg::EdDsa, "EdDSA"),
    ] {
        c.bench_function(&format!("JWT sign {name}, aws-lc-rs"), |b| {
            b.iter(|| {
                jwt.sign_as(alg, None, std::hint::black_box(&claims))
                    .unwrap()
            })
        });
        let token = jwt.sign_as(alg, None, &claims).unwrap();
        c.bench_function(&format!("JWT verify {name}, aws-lc-rs"), |b| {
            b.iter(|| {
                jwt.verify::<serde_json::Value>(std::hint::black_box(&token))
                    .unwrap()
            })
        });
    }
}

criterion_group!(core, benches);
criterion_main!(core);
