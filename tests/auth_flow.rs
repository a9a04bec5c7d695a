//! The sign-in flow over HTTP against a real server and SQLite file, with real signatures.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use siwe_server::domain::token::Keys;
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_describes_an_acceptable_message() {
    let app = TestApp::spawn_with(|s| s.siwe.chain_ids = vec![1, 10]).await;
    let before = app.clock.now();
    let resp = app.get("/api/auth/nonce").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    let nonce = body["nonce"].as_str().unwrap();
    assert!(nonce.len() >= 16 && nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(body["domain"], DOMAIN);
    assert_eq!(body["uri"], URI);
    assert_eq!(body["version"], "1");
    assert_eq!(body["chainIds"], json!([1, 10]));
    assert!(body["statement"].is_string());
    let expires = OffsetDateTime::parse(
        body["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ttl = time::Duration::seconds(300);
    assert!(
        expires > before + ttl - time::Duration::milliseconds(1)
            && expires <= app.clock.now() + ttl
    );
    assert_ne!(app.nonce().await, nonce, "nonces are fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_creates_account_session_and_cookie() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let nonce = app.nonce().await;
    let resp = app
        .verify_spec(&wallet, &MessageSpec::new(&wallet, &nonce))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = set_cookie(resp.headers());
    assert!(cookie.starts_with("siwe_session="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "http public_url: no Secure ({cookie})"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["created"], true);
    let user = &body["user"];
    let short = format!("{}…{}", &wallet.address[..6], &wallet.address[38..]);
    assert_eq!(user["name"], short);
    assert_eq!(user["email"], Value::Null);
    assert_eq!(user["wallets"][0]["address"], wallet.address.as_str());
    assert_eq!(user["wallets"][0]["chainId"], 1);
    assert!(user["createdAt"].is_string() && user["wallets"][0]["linkedAt"].is_string());
    assert_eq!(body["session"]["address"], wallet.address.as_str());
    assert_eq!(body["session"]["chainId"], 1);
    assert!(body["session"]["expiresAt"].is_string());
    let token = body["token"].as_str().unwrap();
    assert!(!cookie.contains(&body["csrfToken"].as_str().unwrap().to_string()));
    assert!(cookie.contains(token), "cookie carries the session token");

    let resp = app.get("/api/auth/session").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["user"]["id"], user["id"]);
    assert_eq!(session["session"]["id"], body["session"]["id"]);
    assert_eq!(session["csrfToken"], body["csrfToken"]);

    let csrf: Value = app.get("/api/auth/csrf").await.json().await.unwrap();
    assert_eq!(csrf["csrfToken"], body["csrfToken"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_sign_in_finds_the_same_account() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let first = app.sign_in(&wallet).await;
    let second = app.sign_in(&wallet).await;
    assert_eq!(second["created"], false);
    assert_eq!(first["user"]["id"], second["user"]["id"]);
    assert_ne!(first["session"]["id"], second["session"]["id"]);
    assert_eq!(second["user"]["wallets"].as_array().unwrap().len(), 1);
    let other = app.sign_in(&Wallet::random()).await;
    assert_ne!(other["user"]["id"], first["user"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uniform_case_addresses_are_accepted_and_bad_checksums_refused() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    for address in [
        format!("0x{}", wallet.address[2..].to_lowercase()),
        format!("0x{}", wallet.address[2..].to_uppercase()),
    ] {
        let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
        spec.address = address;
        let resp = app.verify_spec(&wallet, &spec).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["user"]["wallets"][0]["address"],
            wallet.address.as_str()
        );
        assert_eq!(body["session"]["address"], wallet.address.as_str());
    }
    // Flip the case of one letter: mixed case with a wrong EIP-55 checksum.
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    let pos = spec.address[2..]
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap()
        + 2;
    let flipped = spec.address.as_bytes()[pos] ^ 0x20;
    spec.address
        .replace_range(pos..=pos, &(flipped as char).to_string());
    expect_error(
        app.verify_spec(&wallet, &spec).await,
        StatusCode::BAD_REQUEST,
        "invalid_message",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_with_their_codes() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/auth/verify")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let json = Some("application/json");
    for (body, ct) in [
        ("not json", json),
        ("{\"message\": \"x\"}", json),
        ("{\"signature\": \"0x00\"}", json),
        ("{\"message\": {}, \"signature\": []}", json),
        ("[]", json),
        ("", json),
        ("{\"message\":\"x\",\"signature\":\"y\"}", None),
        (
            "message=x&signature=y",
            Some("application/x-www-form-urlencoded"),
        ),
    ] {
        let (status, code) = error_code(post(body, ct).await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{body}"
        );
    }

    let wallet = Wallet::random();
    let good = MessageSpec::new(&wallet, &app.nonce().await).render();
    for message in [
        "hello".to_string(),
        good.replace('\n', "\r\n"),
        format!("{good}\n"),
        good.replace("Version: 1", "Version: 2"),
        good.replace("Chain ID: 1", "Chain ID: +1"),
        good.replace("Sign in to the test.", "Sign in <script>"),
    ] {
        let (status, code) = error_code(app.verify(&message, &wallet.sign(&message)).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_message"),
            "{message:?}"
        );
    }

    let signature = wallet.sign(&good);
    for bad in [
        "".to_string(),
        "0x1234".to_string(),
        signature[..signature.len() - 2].to_string(),
        format!("{signature}0"),
        // Longer than siwe.max_signature_bytes (a wallet contract's may be up to that).
        format!("0x{}", "00".repeat(8193)),
        signature.replace(|c: char| c.is_ascii_digit(), "g"),
    ] {
        let (status, code) = error_code(app.verify(&good, &bad).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_signature_format"),
            "{bad}"
        );
    }
    // None of the 400s spent the nonce.
    assert_eq!(app.verify(&good, &signature).await.status(), StatusCode::OK);
}

// On one thread: with two, the server's 413 can close the connection while the client is
// still sending the chunked body, and the client sees the broken write, not the answer.
#[tokio::test]
async fn oversized_bodies_are_refused() {
    if common::postgres::skip_unless_sqlite(
        "body limits, the same whatever the storage, timed on one thread",
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    // Over 16 KiB plus room for the largest signature (siwe.max_signature_bytes, 8192).
    let message = "a".repeat(40 * 1024);
    let resp = app.verify(&message, "0x00").await;
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Without a Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 1024])).collect();
    let resp = app
        .client
        .post(app.url("/api/auth/verify"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

/// Each acceptable-but-wrong message gets its own 401 code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacceptable_messages_get_401_with_their_codes() {
    let app = TestApp::spawn_with(|s| {
        s.siwe.chain_ids = vec![1];
        s.siwe.nonce_ttl_secs = 300;
        s.siwe.clock_skew_secs = 60;
    })
    .await;
    let wallet = Wallet::random();
    let now = OffsetDateTime::now_utc();
    type Edit = Box<dyn Fn(&mut MessageSpec)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "domain_mismatch",
            Box::new(|m| m.domain = "evil.example".into()),
        ),
        (
            "domain_mismatch",
            Box::new(|m| m.domain = "localhost:8081".into()),
        ),
        (
            "domain_mismatch",
            Box::new(|m| m.domain = "https://localhost:8080".into()),
        ),
        (
            "uri_mismatch",
            Box::new(|m| m.uri = "http://evil.example/login".into()),
        ),
        (
            "uri_mismatch",
            Box::new(|m| m.uri = "https://localhost:8080".into()),
        ),
        ("chain_not_allowed", Box::new(|m| m.chain_id = "5".into())),
        (
            "message_expired",
            Box::new(move |m| m.expiration_time = Some(rfc3339(now - time::Duration::seconds(1)))),
        ),
        (
            "message_not_yet_valid",
            Box::new(move |m| m.not_before = Some(rfc3339(now + time::Duration::minutes(10)))),
        ),
        (
            "issued_at_invalid",
            Box::new(move |m| m.issued_at = rfc3339(now + time::Duration::minutes(5))),
        ),
        (
            "issued_at_invalid",
            Box::new(move |m| m.issued_at = rfc3339(now - time::Duration::minutes(10))),
        ),
    ];
    for (expected, edit) in cases {
        let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
        edit(&mut spec);
        let (status, code) = error_code(app.verify_spec(&wallet, &spec).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, expected),
            "{}",
            spec.render()
        );
    }

    // Signed by a different key, or claiming another address.
    let spec = MessageSpec::new(&wallet, &app.nonce().await);
    let message = spec.render();
    let (status, code) =
        error_code(app.verify(&message, &Wallet::random().sign(&message)).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_signature")
    );
    // A signature over other text than the one sent.
    let spec = MessageSpec::new(&wallet, &app.nonce().await);
    let signature = wallet.sign(
        &spec
            .render()
            .replace("Sign in to the test.", "Something else."),
    );
    expect_error(
        app.verify(&spec.render(), &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;

    // A nonce this server never issued.
    let spec = MessageSpec::new(&wallet, "NeverIssuedNonce12345");
    expect_error(
        app.verify_spec(&wallet, &spec).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;

    // Still fine when everything is right.
    app.sign_in(&wallet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_domains_uris_and_optional_fields_are_accepted() {
    let app = TestApp::spawn_with(|s| {
        s.siwe.domains = vec!["app.example.org".into()];
        s.siwe.uris = vec!["https://app.example.org".into()];
    })
    .await;
    let wallet = Wallet::random();
    let now = OffsetDateTime::now_utc();
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.domain = "app.example.org".into();
    spec.uri = "https://app.example.org/login?x=1".into();
    spec.statement = None;
    spec.expiration_time = Some(rfc3339(now + time::Duration::minutes(5)));
    spec.not_before = Some(rfc3339(now - time::Duration::minutes(1)));
    spec.request_id = Some("req-1".into());
    spec.resources = vec!["https://app.example.org/tos".into(), "ipfs://bafy".into()];
    assert_eq!(
        app.verify_spec(&wallet, &spec).await.status(),
        StatusCode::OK
    );

    // The public_url's own domain and URI keep working, with a scheme on the domain too.
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.domain = "http://localhost:8080".into();
    spec.uri = "http://localhost:8080/account".into();
    spec.chain_id = "137".into();
    let resp = app.verify_spec(&wallet, &spec).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["session"]["chainId"], 137);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_works_once_and_is_spent_by_failed_attempts() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let spec = MessageSpec::new(&wallet, &app.nonce().await);
    assert_eq!(
        app.verify_spec(&wallet, &spec).await.status(),
        StatusCode::OK
    );
    let (status, code) = error_code(app.verify_spec(&wallet, &spec).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_nonce"),
        "replay"
    );

    // A refused attempt spends the nonce: fixing the message afterwards does not help.
    let nonce = app.nonce().await;
    let mut wrong = MessageSpec::new(&wallet, &nonce);
    wrong.domain = "evil.example".into();
    let (_, code) = error_code(app.verify_spec(&wallet, &wrong).await).await;
    assert_eq!(code, "domain_mismatch");
    let (_, code) = error_code(
        app.verify_spec(&wallet, &MessageSpec::new(&wallet, &nonce))
            .await,
    )
    .await;
    assert_eq!(code, "invalid_nonce");

    // A message its address never signed spends nothing: the owner can still use the nonce.
    let nonce = app.nonce().await;
    let message = MessageSpec::new(&wallet, &nonce).render();
    let (_, code) = error_code(app.verify(&message, &Wallet::random().sign(&message)).await).await;
    assert_eq!(code, "invalid_signature");
    let resp = app.verify(&message, &wallet.sign(&message)).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_nonces_are_refused() {
    let app = TestApp::spawn_with(|s| s.siwe.nonce_ttl_secs = 1).await;
    let wallet = Wallet::random();
    let spec = MessageSpec::new(&wallet, &app.nonce().await);
    app.advance_clock(2);
    expect_error(
        app.verify_spec(&wallet, &spec).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
}

/// A nonce carries its expiry: a restart with a longer `nonce_ttl_secs` does not revive it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_nonce_ttl_after_a_restart_does_not_revive_an_expired_nonce() {
    let short = TestApp::spawn_with(|s| s.siwe.nonce_ttl_secs = 2).await;
    let wallet = Wallet::random();
    let nonce = short.nonce().await;
    let (dir, mut settings) = (short.dir.clone(), short.settings_clone());
    short.stop().await;
    settings.siwe.nonce_ttl_secs = 300;
    let long = TestApp::spawn_in(dir, settings).await;
    long.advance_clock(3);
    expect_error(
        long.verify_spec(&wallet, &MessageSpec::new(&wallet, &nonce))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
    // Its own nonces work.
    long.sign_in(&wallet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_racing_verifies_of_one_message_give_exactly_one_session() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    let signature = wallet.sign(&message);
    let requests = (0..50).map(|_| {
        let client = cookie_client();
        let url = app.url("/api/auth/verify");
        let body = json!({ "message": message, "signature": signature });
        tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap().status() })
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((ok, refused), (1, 49), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_needs_csrf_revokes_the_session_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    let body = app.sign_in(&Wallet::random()).await;
    let token = body["token"].as_str().unwrap().to_string();
    let csrf = body["csrfToken"].as_str().unwrap().to_string();

    for presented in [None, Some("wrong"), Some("")] {
        expect_error(
            app.logout(presented).await,
            StatusCode::FORBIDDEN,
            "csrf_invalid",
        )
        .await;
    }
    // Another session's token does not do either.
    let other = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let other_csrf = other.sign_in(&Wallet::random()).await["csrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, code) = error_code(app.logout(Some(&other_csrf)).await).await;
    assert_eq!(code, "csrf_invalid");
    assert_eq!(app.get("/api/auth/session").await.status(), StatusCode::OK);

    let resp = app.logout(Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(resp.headers());
    for attr in [
        "siwe_session=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=0",
    ] {
        assert!(cleared.contains(attr), "{attr} missing in {cleared}");
    }
    assert_eq!(
        app.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A copy of the old cookie, or the token as bearer, is refused.
    let copy = cookie_client()
        .get(app.url("/api/auth/session"))
        .header("cookie", format!("siwe_session={token}"))
        .send()
        .await
        .unwrap();
    expect_error(copy, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let bearer = app.session_with_bearer(&token).await;
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_attributes_follow_config_and_logout_clears_with_the_same() {
    let app = TestApp::spawn_with(|s| {
        s.server.public_url = "https://localhost:8080".into();
        s.session.same_site = siwe_server::config::SameSite::None;
        s.session.domain = Some(".localhost".into());
        s.session.cookie_name = "my_session".into();
        s.session.ttl_secs = 600;
    })
    .await;
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.uri = "https://localhost:8080".into();
    let resp = app.verify_spec(&wallet, &spec).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let set = set_cookie(resp.headers());
    let body: Value = resp.json().await.unwrap();
    let attrs = [
        "HttpOnly",
        "SameSite=None",
        "Secure",
        "Path=/",
        "Domain=localhost",
    ];
    for attr in attrs.iter().chain(&["my_session=", "Max-Age=600"]) {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    // The client will not send a Secure cookie over http, so present it by hand.
    let token = body["token"].as_str().unwrap();
    let resp = cookie_client()
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("my_session={token}"))
        .header("x-csrf-token", body["csrfToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(resp.headers());
    for attr in attrs.iter().chain(&["my_session=", "Max-Age=0"]) {
        assert!(cleared.contains(attr), "{attr} missing in {cleared}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_unknown_cookies_are_refused() {
    let app = TestApp::spawn().await;
    let body = app.sign_in(&Wallet::random()).await;
    let token = body["token"].as_str().unwrap();
    let mut tampered = token.as_bytes().to_vec();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for value in [
        tampered.as_str(),
        &token[..token.len() - 1],
        "x",
        "",
        &"A".repeat(43),
        &format!("{token}x"),
    ] {
        let resp = cookie_client()
            .get(app.url("/api/auth/session"))
            .header("cookie", format!("siwe_session={value}"))
            .send()
            .await
            .unwrap();
        let (status, code) = error_code(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{value}"
        );
    }
    let resp = cookie_client()
        .get(app.url("/api/auth/session"))
        .header("cookie", format!("siwe_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_work_without_cookies_or_csrf() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let body = app.sign_in(&wallet).await;
    let token = body["token"].as_str().unwrap();
    let client = reqwest::Client::new();

    let resp = app.session_with_bearer(token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let session: Value = resp.json().await.unwrap();
    assert_eq!(session["session"]["address"], wallet.address.as_str());

    for header in ["Bearer nonsense", "Basic abc", "Bearer"] {
        let resp = client
            .get(app.url("/api/auth/session"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
    }

    let resp = client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app.session_with_bearer(token).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_begin_with_their_time_and_untimed_ones_still_work() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let body = app.sign_in(&wallet).await;
    let token = body["token"].as_str().unwrap();
    let keys = match &app.settings.security.secret {
        Some(secret) => Keys::from_secret(secret.expose().as_bytes()),
        None => {
            let path = app.dir.path().join("data").join("secret.key");
            let secret = std::fs::read_to_string(path).unwrap();
            Keys::from_secret(&hex::decode(secret.trim()).unwrap())
        }
    };

    // Only the key is stored: the token's time prefix, so new keys append to the index, and a
    // MAC of the whole token.
    let stored: Vec<u8> = app.sql_value("SELECT token_hash FROM sessions");
    assert_eq!(token.len(), 51);
    assert_eq!(stored, keys.session_token_key(token));
    assert_eq!(&stored[..8], &token.as_bytes()[..8]);
    assert!(!stored
        .windows(9)
        .any(|w| token.as_bytes().windows(9).any(|t| t == w)));

    // A session whose 43-character token was issued before tokens carried their time.
    let untimed = "Qm9yaW5nIG9sZCB0b2tlbnMgc3RpbGwgd29yayBoZXJl";
    let untimed = &untimed[..43];
    app.sql_execute(
        "INSERT INTO sessions (id, token_hash, user_id, address, chain_id, created_at,
                               expires_at, last_seen_at)
         SELECT 'untimed', ?1, user_id, address, chain_id, created_at, expires_at, last_seen_at
           FROM sessions",
        vec![keys.session_token_key(untimed).to_vec().into()],
    )
    .await;
    for (token, id) in [
        (token, body["session"]["id"].as_str().unwrap()),
        (untimed, "untimed"),
    ] {
        let resp = app.session_with_bearer(token).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let session: Value = resp.json().await.unwrap();
        assert_eq!(session["session"]["id"], id);
        assert_eq!(session["user"]["id"], body["user"]["id"]);
    }
    // One character off, in the time or in the random part: refused.
    let flip = |at: usize| {
        let mut bytes = token.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    for changed in [flip(7), flip(50)] {
        let resp = app.session_with_bearer(&changed).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{changed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire() {
    let app = TestApp::spawn_with(|s| s.session.ttl_secs = 60).await;
    app.sign_in(&Wallet::random()).await;
    assert_eq!(app.get("/api/auth/session").await.status(), StatusCode::OK);
    app.advance_clock(61);
    expect_error(
        app.get("/api/auth/session").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let (status, _) = error_code(app.get("/api/auth/csrf").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_rows_are_cleaned_up() {
    let app = TestApp::spawn_with(|s| {
        s.siwe.nonce_ttl_secs = 60;
        s.session.ttl_secs = 60;
        s.database.cleanup_interval_secs = 1;
    })
    .await;
    app.sign_in(&Wallet::random()).await;
    app.nonce().await;
    let count = |table: &str| app.sql_value::<i64>(&format!("SELECT count(*) FROM {table}"));
    assert_eq!((count("spent_nonces"), count("sessions")), (1, 1));
    app.advance_clock(61);
    // Waits for the cleanup, which runs every second on the server's clock.
    let mut gone = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if count("spent_nonces") == 0 && count("sessions") == 0 {
            gone = true;
            break;
        }
    }
    assert!(gone, "expired nonce and session were deleted");
    assert_eq!(count("users"), 1, "accounts stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_get_401() {
    let app = TestApp::spawn().await;
    for path in ["/api/auth/session", "/api/auth/csrf"] {
        expect_error(
            app.get(path).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
    expect_error(
        app.logout(None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    expect_error(
        app.get("/api/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let resp = app
        .client
        .delete(app.url("/api/auth/nonce"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_index_and_docs_are_served() {
    let app = TestApp::spawn().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})
    );

    let resp = app.get("/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("href=\"/docs\""));
    let css = app.get("/assets/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    // A revalidation with the ETag is a 304, not an error.
    let etag = css.headers()["etag"].clone();
    let again = app
        .client
        .get(app.url("/assets/app.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let docs = app.get("/docs").await.text().await.unwrap();
    assert!(docs.contains("swagger"), "Swagger UI is served");
    assert!(!docs.contains("cdn.") && !docs.contains("unpkg"), "no CDN");
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["paths"]["/api/auth/verify"]["post"].is_object());
    let yaml = app.get("/openapi.yaml").await.text().await.unwrap();
    assert!(yaml.contains("/api/auth/verify"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_is_broken() {
    if common::postgres::skip_unless_sqlite(
        "breaks the SQLite file (tests/postgres.rs cuts PostgreSQL off)",
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    // Overwrite the database with garbage, in place, and reset the WAL index the open
    // connections share, so they must re-read the file and find it is no database.
    let db = app.db_path();
    std::fs::write(&db, vec![0x42u8; 8192]).unwrap();
    std::fs::write(db.with_extension("db-wal"), b"").unwrap();
    let shm = db.with_extension("db-shm");
    let shm_len = std::fs::metadata(&shm).unwrap().len() as usize;
    std::fs::write(&shm, vec![0u8; shm_len]).unwrap();
    let resp = app.get("/healthz").await;
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_stored_only_when_used_and_cannot_be_forged() {
    let app = TestApp::spawn().await;
    let spent = || app.sql_value::<i64>("SELECT count(*) FROM spent_nonces");
    let mut nonces = Vec::new();
    for _ in 0..20 {
        nonces.push(app.nonce().await);
    }
    assert_eq!(spent(), 0, "issuing nonces writes nothing");

    // The right shape and time, a tag this server did not make: refused.
    let wallet = Wallet::random();
    let real = nonces.pop().unwrap();
    let mut forged = real.clone();
    let last = if forged.ends_with('a') { 'b' } else { 'a' };
    forged.pop();
    forged.push(last);
    let message = MessageSpec::new(&wallet, &forged).render();
    expect_error(
        app.verify(&message, &wallet.sign(&message)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;

    // The real one works once; the record of its use is the only row.
    let message = MessageSpec::new(&wallet, &real).render();
    assert_eq!(
        app.verify(&message, &wallet.sign(&message)).await.status(),
        StatusCode::OK
    );
    expect_error(
        app.verify(&message, &wallet.sign(&message)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
    // The forged nonce was never written: only the real one is recorded.
    assert_eq!(spent(), 1);
}
