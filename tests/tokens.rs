//! Short-lived JWTs and the JWKS, verified with PyJWT (tests/suites/requirements.txt); key
//! rotation and `siwe-server check` with the real binary.

mod common;

use std::process::Command;

use common::{jwt::*, *};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_siwe-server");

/// PyJWT's verdict: the claims, or the error text. (Async: the server runs on this runtime.)
async fn verify(app: &TestApp, token: &str, audience: &str) -> Result<Value, String> {
    verify_moved(app, token, audience, 0).await
}

/// [`verify`] by a verifier whose clock is `moved_secs` ahead, as the test moved the server's.
async fn verify_moved(
    app: &TestApp,
    token: &str,
    audience: &str,
    moved_secs: i64,
) -> Result<Value, String> {
    pyjwt_verify(app, token, audience, moved_secs, "EdDSA").await
}

async fn token(app: &TestApp, csrf: &str, body: Value) -> reqwest::Response {
    app.call(Method::POST, "/api/auth/token", Some(csrf), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_verify_independently_against_the_jwks() {
    let app = TestApp::spawn_with(|s| {
        s.tokens.audiences = vec!["api.example.org".into(), "ws.example.org".into()]
    })
    .await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let csrf = me["csrfToken"].as_str().unwrap().to_string();
    app.link(&csrf, &w2).await;

    let resp = token(&app, &csrf, json!({})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let jwt = body["token"].as_str().unwrap();
    assert!(body["expiresAt"].is_string());
    let claims = verify(&app, jwt, "api.example.org")
        .await
        .expect("PyJWT verifies the token");
    assert_eq!(claims["sub"], me["user"]["id"]);
    assert_eq!(claims["addr"], w1.address.as_str());
    assert_eq!(claims["wallets"].as_array().unwrap().len(), 2);
    assert_eq!(claims["iss"], "http://localhost:8080");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    let err = verify(&app, jwt, "ws.example.org").await.unwrap_err();
    assert!(err.contains("Audience"), "{err}");
    let ws: Value = token(&app, &csrf, json!({"audience": "ws.example.org"}))
        .await
        .json()
        .await
        .unwrap();
    verify(&app, ws["token"].as_str().unwrap(), "ws.example.org")
        .await
        .expect("the asked audience");
    expect_error(
        token(&app, &csrf, json!({"audience": "evil.example"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_audience",
    )
    .await;

    // Cookie requests need the CSRF token; bearer ones do not.
    expect_error(
        app.call(Method::POST, "/api/auth/token", None, Some(json!({})))
            .await,
        StatusCode::FORBIDDEN,
        "csrf_invalid",
    )
    .await;
    let resp = reqwest::Client::new()
        .post(app.url("/api/auth/token"))
        .bearer_auth(me["token"].as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    expect_error(
        reqwest::Client::new()
            .post(app.url("/api/auth/token"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    // A tampered token fails.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert!(verify(&app, &parts.join("."), "api.example.org")
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire() {
    let app = TestApp::spawn_with(|s| s.tokens.ttl_secs = 60).await;
    let me = app.sign_in(&Wallet::random()).await;
    let body: Value = token(&app, me["csrfToken"].as_str().unwrap(), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let jwt = body["token"].as_str().unwrap();
    verify(&app, jwt, "http://localhost:8080")
        .await
        .expect("fresh");
    app.advance_clock(61);
    let err = verify_moved(&app, jwt, "http://localhost:8080", 61)
        .await
        .unwrap_err();
    assert!(err.contains("expired"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_publishes_the_next_key_before_it_signs() {
    if common::postgres::skip_unless_sqlite(
        "rotates the key file; the database key set: tests/postgres.rs",
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    let me = app.sign_in(&Wallet::random()).await;
    let csrf = me["csrfToken"].as_str().unwrap().to_string();
    let before: Value = token(&app, &csrf, json!({})).await.json().await.unwrap();
    let old = before["token"].as_str().unwrap().to_string();
    let jwks: Value = published_jwks(&app).await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "one key per algorithm"
    );
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    let old_rsa = jwt_kid(&rs256_token(&app, "x", 60));

    let rotate = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["keys", "rotate"])
            .args(extra)
            .env("SIWE_DATABASE__PATH", app.db_path())
            .env("SIWE_TOKENS__KEY_PUBLISH_SECS", "60")
            .env_remove("SIWE_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let published = || async {
        let jwks: Value = published_jwks(&app).await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let signing_kid = || async {
        let body: Value = token(&app, &csrf, json!({})).await.json().await.unwrap();
        jwt_kid(body["token"].as_str().unwrap())
    };
    rotate(&[]);

    // The next key is published at once, but the old one keeps signing until JWKS caches had
    // time to learn the new one (tokens.key_publish_secs).
    let keys = published().await;
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert_eq!(signing_kid().await, jwt_kid(&old));
    assert_eq!(jwt_kid(&rs256_token(&app, "x", 60)), old_rsa);
    let new_keys: Vec<String> = keys
        .into_iter()
        .filter(|k| *k != jwt_kid(&old) && *k != old_rsa)
        .collect();
    assert_eq!(new_keys.len(), 2, "{new_keys:?}");
    app.advance_clock(61);
    let new_rsa = jwt_kid(&rs256_token(&app, "x", 60));
    assert!(
        new_rsa != old_rsa && new_keys.contains(&new_rsa),
        "the next RSA key was published before it signed"
    );
    let next = new_keys.into_iter().find(|k| *k != new_rsa).unwrap();
    let after: Value = token(&app, &csrf, json!({})).await.json().await.unwrap();
    let new = after["token"].as_str().unwrap();
    assert_eq!(
        jwt_kid(new),
        next,
        "the published key signs once its time has come"
    );
    assert_eq!(published().await.len(), 4, "the old keys stay published");
    verify_moved(&app, &old, "http://localhost:8080", 61)
        .await
        .expect("old tokens still verify");
    verify_moved(&app, new, "http://localhost:8080", 61)
        .await
        .expect("new tokens verify");

    // --now (a leaked key): the new key signs at once.
    rotate(&["--now"]);
    let now_kid = signing_kid().await;
    assert!(now_kid != next && now_kid != jwt_kid(&old));
    assert!(published().await.contains(&now_kid));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let keys = app.db_path().with_file_name("jwt-keys.json");
        assert_eq!(
            std::fs::metadata(keys).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_problems_and_exits_non_zero() {
    if common::postgres::skip_unless_sqlite(
        "`check` reads the SQLite file and the key files beside it",
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    app.sign_in(&Wallet::random()).await;
    let check = |extra: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("check")
            .env("SIWE_DATABASE__PATH", app.db_path())
            .env_remove("SIWE_CONFIG");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = check(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("integrity ok") && text.contains("secret"),
        "{text}"
    );
    let out = check(&[("SIWE_SESSION__SAME_SITE", "none")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("same_site"));
    let out = check(&[("SIWE_DATABASE__PATH", "/nonexistent/dir/x.db")]);
    assert!(out.status.success(), "a database still to create is fine");
    let garbage = app.dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let out = check(&[("SIWE_DATABASE__PATH", garbage.to_str().unwrap())]);
    assert!(!out.status.success());
}
