//! Random and mutated EIP-4361 messages through the parser and through the whole verify path:
//! never a panic, never a 5xx, and a changed message never signs anyone in.

mod common;

use common::*;
use proptest::{prelude::*, strategy::ValueTree};
use reqwest::StatusCode;
use siwe_server::domain::siwe;

fn template() -> String {
    "service.org wants you to sign in with your Ethereum account:\n\
     0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\
     I accept the ServiceOrg Terms of Service: https://service.org/tos\n\n\
     URI: https://service.org/login\nVersion: 1\nChain ID: 1\nNonce: 32891757\n\
     Issued At: 2021-09-30T16:25:24.000Z\nExpiration Time: 2100-01-01T00:00:00Z\n\
     Not Before: 2021-01-01T00:00:00Z\nRequest ID: abc\nResources:\n- ipfs://Qme7ss\n- https://x.org/a"
        .to_string()
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
    DuplicateLine(usize),
    DropLine(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let ch = prop_oneof![
        any::<char>(),
        prop::sample::select(vec![
            '\n', '\r', ':', ' ', '0', 'x', '-', '\0', '[', ']', '@', '%'
        ]),
    ];
    prop_oneof![
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), ch).prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::DropLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let n = chars.len().max(1);
        match m {
            Mutation::Insert(i, c) => chars.insert(i % (chars.len() + 1), *c),
            Mutation::Delete(i) if !chars.is_empty() => {
                chars.remove(i % n);
            }
            Mutation::Replace(i, c) if !chars.is_empty() => chars[i % n] = *c,
            Mutation::DuplicateLine(i) | Mutation::DropLine(i) | Mutation::SwapLines(i, _) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let k = i % lines.len();
                match m {
                    Mutation::DuplicateLine(_) => lines.insert(k, lines[k]),
                    Mutation::DropLine(_) => {
                        lines.remove(k);
                    }
                    Mutation::SwapLines(_, j) => {
                        let j = j % lines.len();
                        lines.swap(k, j);
                    }
                    _ => {}
                }
                chars = lines.join("\n").chars().collect();
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parser_survives_random_text(text in ".{0,600}") {
        let _ = siwe::parse_message(&text);
    }

    #[test]
    fn parser_survives_mutated_messages(mutations in prop::collection::vec(mutation(), 1..6)) {
        let text = apply(&template(), &mutations);
        if let Ok(parsed) = siwe::parse_message(&text) {
            // Whatever parses keeps its own text's address and nonce rules.
            prop_assert!(parsed.message.nonce.len() >= 8);
            prop_assert!(!text.contains('\r'));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_signed_messages_never_sign_in_and_never_fail_the_server() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let mut runner = proptest::test_runner::TestRunner::default();
    let strategy = (prop::collection::vec(mutation(), 1..4), any::<bool>());
    let cases: Vec<_> = (0..150)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();
    let mut outcomes = std::collections::BTreeMap::<u16, usize>::new();
    for (mutations, sign_mutated) in cases {
        let original = MessageSpec::new(&wallet, &app.nonce().await).render();
        let mutated = apply(&original, &mutations);
        // Either the signature is over the original (so the mutation must be caught), or over
        // the mutated text (so only a well-formed, acceptable message may pass).
        let signature = wallet.sign(if sign_mutated { &mutated } else { &original });
        let status = app.verify(&mutated, &signature).await.status();
        *outcomes.entry(status.as_u16()).or_default() += 1;
        assert!(!status.is_server_error(), "{status} for {mutated:?}");
        if status == StatusCode::OK {
            assert!(
                sign_mutated || mutated == original,
                "a changed message signed in: {mutated:?}"
            );
            siwe::parse_message(&mutated).expect("accepted messages parse");
        }
    }
    eprintln!("outcomes: {outcomes:?}");
    assert!(
        outcomes.keys().all(|s| [200, 400, 401, 413].contains(s)),
        "{outcomes:?}"
    );
}
