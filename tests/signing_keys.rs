//! The JWT signing keys as the OpenID Connect code uses them (`JwtKeys` on a real key file and
//! an adjustable clock): `verify` accepts only unexpired tokens of our published keys with their
//! own algorithm, key files from before RSA keys load and gain one; and, with the real server,
//! RS256 tokens verify with PyJWT against the JWKS, whose retired keys stay published as long
//! as the longest-lived token (the key rotation itself is tested in tokens.rs).

mod common;

use std::{process::Command, time::Duration};

use common::{jwt::*, *};
use reqwest::Method;
use serde_json::{json, Value};
use siwe_server::{
    clock::Clock,
    error::ErrorCode,
    keys::{JwtKeys, KeyStore, SigningAlg},
};

const BIN: &str = env!("CARGO_BIN_EXE_siwe-server");

fn claims(clock: &Clock, ttl: i64) -> Value {
    let iat = clock.now().unix_timestamp();
    json!({"sub": "someone", "aud": "grafana", "iat": iat, "exp": iat + ttl})
}

fn refusal(keys: &JwtKeys, token: &str) -> String {
    let err = keys.verify::<Value>(token).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidToken, "{err}");
    err.to_string()
}

fn stored(dir: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("jwt-keys.json")).unwrap()).unwrap()
}

#[test]
fn verify_accepts_our_unexpired_tokens_of_both_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::adjustable();
    let keys = JwtKeys::open(dir.path(), 600, clock.clone()).unwrap();
    for alg in SigningAlg::ALL {
        let token = keys.sign_as(alg, None, &claims(&clock, 60)).unwrap();
        let got: Value = keys.verify(&token).unwrap();
        assert_eq!(got["sub"], "someone", "{alg}");
    }
    let token = keys.sign(&claims(&clock, 60)).unwrap();
    assert_eq!(keys.verify::<Value>(&token).unwrap()["aud"], "grafana");

    // exp is read from the application clock, not the wall clock.
    clock.advance(time::Duration::seconds(59));
    keys.verify::<Value>(&token).unwrap();
    clock.advance(time::Duration::seconds(1));
    assert!(refusal(&keys, &token).contains("expired"));
    // A hint (logout's id_token_hint) may have expired, but must still be ours.
    let hint: Value = keys.verify_allowing_expired(&token).unwrap();
    assert_eq!(hint["aud"], "grafana");
    let mut no_exp = claims(&clock, 60);
    no_exp.as_object_mut().unwrap().remove("exp");
    let token = keys.sign_as(SigningAlg::Rs256, None, &no_exp).unwrap();
    assert!(refusal(&keys, &token).contains("expiry"));
}

#[test]
fn verify_refuses_other_keys_wrong_algorithms_and_tampering() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let clock = Clock::adjustable();
    let keys = JwtKeys::open(ours.path(), 600, clock.clone()).unwrap();
    let other = JwtKeys::open(theirs.path(), 600, clock.clone()).unwrap();
    let foreign = other
        .sign_as(SigningAlg::Rs256, None, &claims(&clock, 60))
        .unwrap();
    assert!(refusal(&keys, &foreign).contains("not signed by a key of this server"));
    assert!(keys.verify_allowing_expired::<Value>(&foreign).is_err());

    // Our RSA key's id on a token of another algorithm: HS256 keyed with public data (the
    // classic confusion), and EdDSA by another key.
    let ours_rs = keys
        .sign_as(SigningAlg::Rs256, None, &claims(&clock, 60))
        .unwrap();
    let rsa_kid = jsonwebtoken::decode_header(&ours_rs).unwrap().kid.unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(rsa_kid.clone());
    let hs = jsonwebtoken::encode(
        &header,
        &claims(&clock, 60),
        &jsonwebtoken::EncodingKey::from_secret(b"AQAB"),
    )
    .unwrap();
    assert!(refusal(&keys, &hs).contains("wrong algorithm"));
    let ed = other.sign(&claims(&clock, 60)).unwrap();
    let (_, rest) = ed.split_once('.').unwrap();
    let relabelled = format!("{}.{rest}", b64(json!({"alg": "EdDSA", "kid": rsa_kid})));
    assert!(refusal(&keys, &relabelled).contains("wrong algorithm"));

    // Changed claims under our signature; garbage.
    let parts: Vec<&str> = ours_rs.split('.').collect();
    let mut forged = claims(&clock, 60);
    forged["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(forged), parts[2]);
    assert!(refusal(&keys, &tampered).contains("bad signature"));
    assert!(refusal(&keys, "not.a.token").contains("malformed"));
}

fn b64(value: Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn a_key_file_from_before_rsa_keys_loads_and_gains_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::adjustable();
    let created = clock.now_ms() - 86_400_000;
    let old = json!({"keys": [{"kid": "old-ed25519", "created_at": created, "retired_at": null,
        "seed": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]});
    let file = dir.path().join("jwt-keys.json");
    std::fs::write(&file, old.to_string()).unwrap();
    #[cfg(unix)]
    {
        // As the server writes it: readable by its owner only (others' reading is refused).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert!(
        JwtKeys::check(dir.path()).unwrap().contains("1 keys"),
        "check writes nothing"
    );

    let keys = JwtKeys::open(dir.path(), 600, clock.clone()).unwrap();
    let token = keys.sign(&claims(&clock, 60)).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some("old-ed25519"),
        "the old key still signs"
    );
    keys.verify::<Value>(&token).unwrap();
    let rs = keys
        .sign_as(SigningAlg::Rs256, None, &claims(&clock, 60))
        .unwrap();
    keys.verify::<Value>(&rs).unwrap();

    let file = stored(dir.path());
    let stored_keys = file["keys"].as_array().unwrap();
    assert_eq!(stored_keys.len(), 2);
    assert_eq!(
        stored_keys[0]["seed"], old["keys"][0]["seed"],
        "kept as it was"
    );
    assert_eq!(stored_keys[1]["alg"], "RS256");
    assert!(stored_keys[1]["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let jwks = keys.jwks().unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["EdDSA", "RS256"]);
}

#[test]
fn retired_keys_stay_published_for_the_longest_token_life() {
    let dir = tempfile::tempdir().unwrap();
    let keys = JwtKeys::open(dir.path(), 600, Clock::system()).unwrap();
    let before = keys
        .sign_as(SigningAlg::Rs256, None, &claims(&Clock::system(), 600))
        .unwrap();
    let (kids, _) = JwtKeys::rotate(KeyStore::file(dir.path()), 600, Duration::ZERO).unwrap();
    assert_eq!(kids.len(), 2);
    let after = keys
        .sign_as(SigningAlg::Rs256, None, &claims(&Clock::system(), 600))
        .unwrap();
    assert!(kids.contains(&jwt_kid(&after)) && jwt_kid(&after) != jwt_kid(&before));
    keys.verify::<Value>(&before).unwrap();

    // On a clock 599 s later the retired key is still published; at 600 s it is gone.
    let file = stored(dir.path());
    let clock = Clock::adjustable();
    let later = JwtKeys::open(dir.path(), 600, clock.clone()).unwrap();
    let retired = file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == jwt_kid(&before))
        .unwrap()["retired_at"]
        .as_i64()
        .unwrap();
    clock.advance(time::Duration::milliseconds(
        retired + 599_000 - clock.now_ms(),
    ));
    let published = |keys: &JwtKeys| keys.jwks().unwrap()["keys"].to_string();
    assert!(published(&later).contains(&jwt_kid(&before)));
    clock.advance(time::Duration::seconds(1));
    assert!(!published(&later).contains(&jwt_kid(&before)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_tokens_verify_independently_against_the_jwks() {
    let app = TestApp::spawn().await;
    let jwks: Value = published_jwks(&app).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{jwks}");
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").expect("an RSA key");
    assert_eq!(rsa["alg"], "RS256");
    assert_eq!(rsa["use"], "sig");
    assert_eq!(rsa["e"], "AQAB");
    assert_eq!(
        rsa["n"].as_str().unwrap().len(),
        342,
        "2048 bits, base64url"
    );
    assert!(rsa.get("crv").is_none() && rsa.get("x").is_none());
    let okp = keys
        .iter()
        .find(|k| k["kty"] == "OKP")
        .expect("an Ed25519 key");
    assert!(okp.get("n").is_none() && okp["alg"] == "EdDSA");

    let jwt = rs256_token(&app, "grafana", 600);
    assert_eq!(jwt_header(&jwt)["alg"], "RS256");
    assert_eq!(jwt_header(&jwt)["typ"], "at+jwt");
    assert_eq!(jwt_kid(&jwt), rsa["kid"].as_str().unwrap());
    let claims = pyjwt_verify(&app, &jwt, "grafana", 0, "RS256")
        .await
        .expect("PyJWT verifies an RS256 token with the published key");
    assert_eq!(claims["sub"], "someone");
    let err = pyjwt_verify(&app, &jwt, "grafana", 0, "EdDSA")
        .await
        .unwrap_err();
    assert!(err.contains("alg"), "{err}");

    // The /api/auth/token tokens stay EdDSA.
    let me = app.sign_in(&Wallet::random()).await;
    let csrf = me["csrfToken"].as_str();
    let body: Value = app
        .call(Method::POST, "/api/auth/token", csrf, Some(json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwt_header(body["token"].as_str().unwrap())["alg"], "EdDSA");
    assert_eq!(
        jwt_kid(body["token"].as_str().unwrap()),
        okp["kid"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_keys_stay_published_while_openid_tokens_live() {
    if common::postgres::skip_unless_sqlite(
        "rotates the key file; the database key set: tests/postgres.rs",
    ) {
        return;
    }
    // Tokens of /api/auth/token live 60 s, but OpenID Connect's ID and access tokens 600 s.
    let app = TestApp::spawn_with(|s| s.tokens.ttl_secs = 60).await;
    let old = jwt_kid(&rs256_token(&app, "x", 600));
    let out = Command::new(BIN)
        .args(["keys", "rotate", "--now"])
        .env("SIWE_DATABASE__PATH", app.db_path())
        .env("SIWE_TOKENS__TTL_SECS", "60")
        .env_remove("SIWE_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("published 600 s longer"));
    let published = || async {
        let jwks: Value = published_jwks(&app).await;
        jwks.to_string()
    };
    app.advance_clock(590);
    assert!(
        published().await.contains(&old),
        "an ID token may still use it"
    );
    app.advance_clock(15);
    assert!(!published().await.contains(&old));
}
