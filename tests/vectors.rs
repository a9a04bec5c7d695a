//! The EIP-4361 conformance vectors (tests/vectors/, MIT/Apache-2.0, copied from the shared
//! signinwithethereum test vectors) run through our parser and verify path. The two EIP-1271
//! cases need a mainnet node and are the only ones left out.

use std::path::Path;

use serde_json::{Map, Value};
use siwe_server::{
    domain::siwe::{self, SiwePolicy},
    error::ErrorCode,
};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

fn load(name: &str) -> Map<String, Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str(&text).unwrap() {
        Value::Object(map) => map,
        _ => panic!("{name} is not an object"),
    }
}

fn opt_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Renders a message from a vector's fields, in the order and shape of EIP-4361.
fn render(fields: &Value) -> String {
    let mut m = format!(
        "{} wants you to sign in with your Ethereum account:\n{}\n\n",
        fields["domain"].as_str().unwrap_or_default(),
        fields["address"].as_str().unwrap_or_default()
    );
    if let Some(statement) = fields["statement"].as_str() {
        m.push_str(&format!("{statement}\n"));
    }
    let chain = match &fields["chainId"] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    m.push_str(&format!(
        "\nURI: {}\nVersion: {}\nChain ID: {}\nNonce: {}\nIssued At: {}",
        fields["uri"].as_str().unwrap_or_default(),
        fields["version"].as_str().unwrap_or_default(),
        chain,
        fields["nonce"].as_str().unwrap_or_default(),
        fields["issuedAt"].as_str().unwrap_or_default()
    ));
    for (key, label) in [
        ("expirationTime", "Expiration Time"),
        ("notBefore", "Not Before"),
        ("requestId", "Request ID"),
    ] {
        if let Some(v) = fields[key].as_str() {
            m.push_str(&format!("\n{label}: {v}"));
        }
    }
    if let Some(resources) = fields["resources"].as_array() {
        m.push_str("\nResources:");
        for r in resources {
            m.push_str(&format!("\n- {}", r.as_str().unwrap_or_default()));
        }
    }
    m
}

fn assert_fields(name: &str, text: &str, fields: &Value) {
    let parsed = siwe::parse_message(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let message = &parsed.message;
    let domain = match (&parsed.scheme, fields.get("scheme")) {
        (Some(scheme), None) => format!("{scheme}://{}", parsed.domain),
        _ => parsed.domain.clone(),
    };
    if let Some(scheme) = fields.get("scheme") {
        assert_eq!(opt_str(scheme), parsed.scheme, "{name}: scheme");
    }
    let address = match &message.address_raw {
        Some(raw) => format!("0x{raw}"),
        None => siwe_server::domain::address::Address::from_bytes(message.address).to_string(),
    };
    let checks: [(&str, Option<String>); 10] = [
        ("domain", Some(domain)),
        ("address", Some(address)),
        ("statement", message.statement.clone()),
        ("uri", Some(message.uri.to_string())),
        ("version", Some("1".into())),
        ("nonce", Some(message.nonce.clone())),
        ("issuedAt", Some(message.issued_at.to_string())),
        (
            "expirationTime",
            message.expiration_time.as_ref().map(ToString::to_string),
        ),
        (
            "notBefore",
            message.not_before.as_ref().map(ToString::to_string),
        ),
        ("requestId", message.request_id.clone()),
    ];
    for (key, actual) in checks {
        if let Some(expected) = fields.get(key) {
            assert_eq!(opt_str(expected), actual, "{name}: {key}");
        }
    }
    if let Some(chain) = fields.get("chainId").and_then(Value::as_u64) {
        assert_eq!(chain, message.chain_id, "{name}: chainId");
    }
    if let Some(resources) = fields.get("resources") {
        let expected: Vec<String> = resources
            .as_array()
            .map(|a| a.iter().filter_map(opt_str).collect())
            .unwrap_or_default();
        let actual: Vec<String> = message.resources.iter().map(ToString::to_string).collect();
        assert_eq!(expected, actual, "{name}: resources");
    }
}

#[test]
fn parsing_positive() {
    let vectors = load("parsing/parsing_positive.json");
    assert_eq!(vectors.len(), 20);
    for (name, v) in &vectors {
        assert_fields(name, v["message"].as_str().unwrap(), &v["fields"]);
    }
}

#[test]
fn parsing_negative() {
    let vectors = load("parsing/parsing_negative.json");
    assert_eq!(vectors.len(), 37);
    for (name, v) in &vectors {
        let err = siwe::parse_message(v.as_str().unwrap()).err();
        assert_eq!(
            err.map(|e| e.code()),
            Some(ErrorCode::InvalidMessage),
            "{name} must be refused"
        );
    }
}

#[test]
fn parsing_warnings() {
    for (name, v) in &load("parsing/parsing_warnings.json") {
        let text = v["message"].as_str().unwrap();
        assert_fields(name, text, &v["fields"]);
        let message = siwe::parse_message(text).unwrap();
        assert_eq!(
            message.message.warnings.len() as u64,
            v["expectedWarnings"].as_u64().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn grammar_messages() {
    for (name, v) in &load("grammar/valid_uris.json") {
        let text = v["msg"].as_str().unwrap();
        assert!(siwe::parse_message(text).is_ok(), "valid_uris {name}");
    }
    for (name, v) in &load("grammar/valid_resources.json") {
        let text = v["msg"].as_str().unwrap();
        let message = siwe::parse_message(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(expected) = v["resources"].as_array() {
            assert_eq!(message.message.resources.len(), expected.len(), "{name}");
        }
    }
    for (name, v) in &load("grammar/valid_specification.json") {
        assert_fields(name, v["msg"].as_str().unwrap(), &v["items"]);
    }
    for file in [
        "grammar/invalid_uris.json",
        "grammar/invalid_resources.json",
    ] {
        for (name, v) in &load(file) {
            assert!(
                siwe::parse_message(v.as_str().unwrap()).is_err(),
                "{file} {name} must be refused"
            );
        }
    }
}

/// Character-class vectors, each placed where its grammar rule occurs in a message.
#[test]
fn grammar_characters() {
    let message = |domain: &str, statement: &str, uri: &str, request_id: &str| {
        format!(
            "{domain} wants you to sign in with your Ethereum account:\n\
             0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n{statement}\n\nURI: {uri}\nVersion: 1\n\
             Chain ID: 1\nNonce: 32891757\nIssued At: 2021-09-30T16:25:24.000Z\nRequest ID: {request_id}"
        )
    };
    let base = |domain: &str, statement: &str, uri: &str| message(domain, statement, uri, "r1");
    let mut tested = 0;
    for file in ["grammar/valid_chars.json", "grammar/invalid_chars.json"] {
        for (name, v) in &load(file) {
            let input = v["input"].as_str().unwrap();
            let text = match v["rule"].as_str().unwrap() {
                "scheme" => base(
                    &format!("{input}://service.org"),
                    "Statement",
                    "https://service.org",
                ),
                "statement" => base("service.org", input, "https://service.org"),
                "userinfo" => base(
                    &format!("{input}@service.org"),
                    "Statement",
                    "https://service.org",
                ),
                "reg-name" => base(input, "Statement", "https://service.org"),
                "IPvFuture" => base(&format!("[{input}]"), "Statement", "https://service.org"),
                // Request ID = *pchar.
                "segment-nz" | "pct-encoded" => {
                    message("service.org", "Statement", "https://service.org", input)
                }
                "fragment" => base(
                    "service.org",
                    "Statement",
                    &format!("https://service.org/#{input}"),
                ),
                rule => panic!("unknown rule {rule}"),
            };
            let expected = v["answer"].as_bool().unwrap();
            assert_eq!(
                siwe::parse_message(&text).is_ok(),
                expected,
                "{file} {name}: {text:?}"
            );
            tested += 1;
        }
    }
    assert_eq!(tested, 48);
}

#[test]
fn message_objects() {
    for (name, v) in &load("objects/message_objects.json") {
        let valid = v["error"].as_str() == Some("none");
        let result = siwe::parse_message(&render(&v["msg"]));
        assert_eq!(result.is_ok(), valid, "{name}: {:?}", result.err());
    }
    for (name, v) in &load("objects/parsing_negative_objects.json") {
        assert!(
            siwe::parse_message(&render(v)).is_err(),
            "{name} must be refused"
        );
    }
}

/// The policy a vector implies: its own domain (or `domainBinding`) and URI, any chain, and no
/// limit on message age (the vectors are from 2022; age is our own rule, tested elsewhere).
fn policy_for(v: &Value) -> SiwePolicy {
    let domain = v["domainBinding"]
        .as_str()
        .or(v["domain"].as_str())
        .unwrap();
    let uri = url::Url::parse(v["uri"].as_str().unwrap()).unwrap();
    SiwePolicy {
        domains: vec![domain.to_ascii_lowercase()],
        uri_origins: vec![uri.origin()],
        chain_ids: vec![],
        nonce_ttl: Duration::days(365 * 1000),
        clock_skew: Duration::ZERO,
        max_signature_bytes: siwe::KEY_SIGNATURE_BYTES,
    }
}

/// Our verify path without storage: parse, nonce match (the database does this), binding,
/// time window, signature over the received text.
fn verify_vector(v: &Value) -> Result<(), String> {
    let text = render(v);
    let message = siwe::parse_message(&text).map_err(|e| e.to_string())?;
    let signature = siwe::parse_signature(
        v["signature"].as_str().unwrap_or_default(),
        siwe::KEY_SIGNATURE_BYTES,
    )
    .map_err(|e| e.to_string())?;
    if let Some(nonce) = v["matchNonce"].as_str() {
        if nonce != message.message.nonce {
            return Err("nonce does not match".into());
        }
    }
    let now = match v["time"].as_str() {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339).unwrap(),
        None => OffsetDateTime::now_utc(),
    };
    // Everything `SiwePolicy::check` does but our own Issued At rule: the vectors judge
    // messages at fixed times in the past and future.
    let policy = policy_for(v);
    policy.check_binding(&message).map_err(|e| e.to_string())?;
    siwe::check_validity_window(&message.message, now, policy.clock_skew)
        .map_err(|e| e.to_string())?;
    siwe::verify_signature(&message.message, &text, &signature).map_err(|e| e.to_string())
}

#[test]
fn verification_positive() {
    let vectors = load("verification/verification_positive.json");
    assert_eq!(vectors.len(), 4);
    for (name, v) in &vectors {
        verify_vector(v).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn verification_negative() {
    let vectors = load("verification/verification_negative.json");
    assert_eq!(vectors.len(), 10);
    for (name, v) in &vectors {
        assert!(verify_vector(v).is_err(), "{name} must fail verification");
    }
}

/// The EIP-1271 vectors are contract-wallet signatures: the key path must not accept them (they
/// verify through a wallet contract on a chain: tests/contract_vectors.rs).
#[test]
fn eip1271_signatures_are_not_accepted_as_eoa() {
    for (name, v) in &load("verification/eip1271.json") {
        let text = v["message"].as_str().unwrap();
        let parsed = siwe::parse_message(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let accepted =
            siwe::parse_signature(v["signature"].as_str().unwrap(), siwe::KEY_SIGNATURE_BYTES)
                .and_then(|sig| siwe::verify_signature(&parsed.message, text, &sig))
                .is_ok();
        assert!(!accepted, "{name}");
    }
}
