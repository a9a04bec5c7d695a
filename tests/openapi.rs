//! The committed spec is exactly what the binary prints and serves.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test --test openapi`.

mod common;

use std::{path::Path, process::Command};

const COMMITTED: &str = "openapi/openapi.json";

fn printed_by_binary() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_siwe-server"))
        .arg("openapi")
        .output()
        .expect("siwe-server openapi runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_spec_matches_binary_and_server() {
    let printed = printed_by_binary();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &printed).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == printed,
        "{COMMITTED} is out of date: run `UPDATE_OPENAPI=1 cargo test --test openapi`"
    );
    let app = common::TestApp::spawn().await;
    let served = app.get("/openapi.json").await.text().await.unwrap();
    assert_eq!(served, printed, "the server serves the same document");
}

#[test]
fn every_operation_is_documented() {
    let spec: serde_json::Value = serde_json::from_str(&printed_by_binary()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(
                operation_ids.insert(id.to_string()),
                "duplicate operationId {id}"
            );
            assert!(op["summary"].is_string(), "{method} {path}: summary");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path}: tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{method} {path}: success"
            );
            if path.starts_with("/api/") {
                assert!(
                    responses.contains_key("500"),
                    "{method} {path}: errors documented"
                );
            }
        }
    }
    for path in [
        "/api/auth/nonce",
        "/api/auth/verify",
        "/api/auth/session",
        "/api/auth/logout",
        "/api/auth/csrf",
        "/healthz",
    ] {
        assert!(paths.contains_key(path), "{path} is in the spec");
    }
    for schema in [
        "VerifyRequest",
        "NonceBody",
        "ErrorBody",
        "ChallengeRequest",
    ] {
        assert!(
            spec["components"]["schemas"][schema]["example"].is_object(),
            "{schema} has an example"
        );
    }
    let codes = &spec["components"]["schemas"]["ErrorCode"]["enum"];
    for code in [
        "invalid_nonce",
        "domain_mismatch",
        "csrf_invalid",
        "issued_at_invalid",
    ] {
        assert!(
            codes.as_array().unwrap().iter().any(|c| c == code),
            "{code} in ErrorCode"
        );
    }
}
