//! Sudo mode (sensitive changes need a recent signature) and the session cookie's name.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn csrf(body: &Value) -> String {
    body["csrfToken"].as_str().unwrap().to_string()
}

/// Moves the time this session last proved a signature (`None`: never, as for a session
/// opened by an emailed link) in the database.
async fn set_authenticated_at(app: &TestApp, session_id: &str, at: Option<i64>) {
    let at = at.map_or(rusqlite::types::Value::Null, Into::into);
    let changed = app
        .sql_execute(
            "UPDATE sessions SET authenticated_at = ?2 WHERE id = ?1",
            vec![session_id.to_string().into(), at],
        )
        .await;
    assert_eq!(changed, 1);
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Ten minutes ago, in Unix milliseconds: outside the default 5-minute window.
fn ten_minutes_ago() -> i64 {
    now_ms() - 600_000
}

/// `message` signed by `wallet`, as a verify body with `link: true`.
async fn link_by_verify(
    app: &TestApp,
    csrf: &str,
    wallet: &Wallet,
    message: &str,
) -> reqwest::Response {
    let body = json!({ "message": message, "signature": wallet.sign(message), "link": true });
    app.call(Method::POST, "/api/auth/verify", Some(csrf), Some(body))
        .await
}

/// Every guarded change, tried with a session that is not recent: each is refused with 403
/// `reauthentication_required` and changes nothing.
async fn all_guarded_changes_are_refused(app: &TestApp, token: &str, linked: &Wallet) {
    let refused = |resp: reqwest::Response, what: &'static str| async move {
        let (status, code) = error_code(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "reauthentication_required"),
            "{what}"
        );
    };
    let unlink = format!("/api/wallets/{}", linked.address);
    refused(
        app.call(Method::DELETE, &unlink, Some(token), None).await,
        "unlink",
    )
    .await;
    let newcomer = Wallet::random();
    refused(
        app.call(
            Method::POST,
            "/api/wallets/challenge",
            Some(token),
            Some(json!({ "address": newcomer.address })),
        )
        .await,
        "link challenge",
    )
    .await;
    let message = MessageSpec::new(&newcomer, &app.nonce().await).render();
    refused(
        app.call(
            Method::POST,
            "/api/wallets",
            Some(token),
            Some(json!({ "message": message, "signature": newcomer.sign(&message) })),
        )
        .await,
        "link",
    )
    .await;
    // Refused before its nonce is looked at (only a link challenge could link anyway).
    refused(
        link_by_verify(app, token, &newcomer, &message).await,
        "verify with link",
    )
    .await;
    refused(
        app.call(
            Method::PUT,
            "/api/account",
            Some(token),
            Some(json!({ "email": "thief@example.org" })),
        )
        .await,
        "email change",
    )
    .await;
    for path in [
        "/api/auth/logout-all",
        "/api/auth/logout-all?keepCurrent=true",
    ] {
        refused(app.call(Method::POST, path, Some(token), None).await, path).await;
    }
    let wallets: Value = app.get("/api/wallets").await.json().await.unwrap();
    assert_eq!(
        wallets.as_array().unwrap().len(),
        2,
        "nothing was linked or unlinked"
    );
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert!(
        account["email"].is_null(),
        "the email did not change: {account}"
    );
    assert_eq!(app.get("/api/auth/session").await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_changes_need_a_recent_signature() {
    let app = TestApp::spawn().await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let token = csrf(&me);
    assert!(me["session"]["authenticatedAt"].is_string(), "{me}");
    // Within the window (just signed in), linking works.
    assert_eq!(app.link(&token, &w2).await.status(), StatusCode::CREATED);

    let session_id = me["session"]["id"].as_str().unwrap();
    set_authenticated_at(&app, session_id, Some(ten_minutes_ago())).await;
    all_guarded_changes_are_refused(&app, &token, &w2).await;

    // What is not sensitive still works: the name, the primary wallet, ending one session.
    let resp = app
        .call(
            Method::PUT,
            "/api/account",
            Some(&token),
            Some(json!({ "name": "Still me" })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let primary = format!("/api/wallets/{}/primary", w2.address);
    let resp = app.call(Method::POST, &primary, Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // A session that never signed (opened by an emailed link) is not recent either, and it
    // stays signed in.
    set_authenticated_at(&app, session_id, None).await;
    let session: Value = app.get("/api/auth/session").await.json().await.unwrap();
    assert!(session["session"]["authenticatedAt"].is_null(), "{session}");
    all_guarded_changes_are_refused(&app, &token, &w2).await;

    // Signing in again gives a recent session: every change works.
    let me = app.sign_in(&w1).await;
    let token = csrf(&me);
    let resp = app
        .call(
            Method::PUT,
            "/api/account",
            Some(&token),
            Some(json!({ "email": "me@example.org" })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let w3 = Wallet::random();
    let message = &app.link_challenge(&token, &w3.address).await;
    let resp = link_by_verify(&app, &token, &w3, message).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Verify with link signs the new wallet in: its session is the cookie's now.
    let token = csrf(&resp.json().await.unwrap());
    let unlink = format!("/api/wallets/{}", w2.address);
    let resp = app.call(Method::DELETE, &unlink, Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .call(Method::POST, "/api/auth/logout-all", Some(&token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_sessions_are_guarded_too() {
    let app = TestApp::spawn().await;
    let me = app.sign_in(&Wallet::random()).await;
    let bearer = me["token"].as_str().unwrap();
    let session_id = me["session"]["id"].as_str().unwrap();
    set_authenticated_at(&app, session_id, Some(ten_minutes_ago())).await;
    let resp = reqwest::Client::new()
        .post(app.url("/api/auth/logout-all"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "reauthentication_required").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_follows_the_setting_in_real_time() {
    let app = TestApp::spawn_with(|s| s.session.reauth_window_secs = 60).await;
    let me = app.sign_in(&Wallet::random()).await;
    let token = csrf(&me);
    let keep = "/api/auth/logout-all?keepCurrent=true";
    let resp = app.call(Method::POST, keep, Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "within the window");
    app.advance_clock(61);
    expect_error(
        app.call(Method::POST, keep, Some(&token), None).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_host_prefixed_when_secure_and_host_only() {
    let app = TestApp::spawn_with(|s| s.server.public_url = "https://localhost:8080".into()).await;
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.uri = "https://localhost:8080".into();
    let resp = app.verify_spec(&wallet, &spec).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let set = set_cookie(resp.headers());
    assert!(set.starts_with("__Host-siwe_session="), "{set}");
    for attr in ["Secure", "Path=/", "HttpOnly"] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    assert!(!set.contains("Domain="), "{set}");
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();

    // Read under the same name; the unprefixed name (which a sibling host could set) is not.
    let session_with = |cookie: String| {
        let request = cookie_client()
            .get(app.url("/api/auth/session"))
            .header("cookie", cookie);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        session_with(format!("__Host-siwe_session={token}")).await,
        StatusCode::OK
    );
    assert_eq!(
        session_with(format!("siwe_session={token}")).await,
        StatusCode::UNAUTHORIZED
    );
    // Logging out clears the cookie under the same name.
    let resp = cookie_client()
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("__Host-siwe_session={token}"))
        .header("x-csrf-token", csrf(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(resp.headers());
    assert!(
        cleared.starts_with("__Host-siwe_session=") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_plain_http_the_cookie_keeps_its_name() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let resp = app
        .verify_spec(&wallet, &MessageSpec::new(&wallet, &app.nonce().await))
        .await;
    let set = set_cookie(resp.headers());
    assert!(set.starts_with("siwe_session="), "{set}");
    assert!(!set.contains("Secure"), "{set}");
}

/// The re-authentication challenge for this app's session (for `address`, if given).
async fn reauth_challenge(app: &TestApp, token: &str, address: Option<&str>) -> reqwest::Response {
    app.call(
        Method::POST,
        "/api/auth/reauthenticate/challenge",
        Some(token),
        Some(json!({ "address": address })),
    )
    .await
}

async fn reauth_message(app: &TestApp, token: &str, address: Option<&str>) -> String {
    let resp = reauth_challenge(app, token, address).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["message"].as_str().unwrap().to_string()
}

async fn reauthenticate(
    app: &TestApp,
    token: &str,
    message: &str,
    signature: &str,
) -> reqwest::Response {
    app.call(
        Method::POST,
        "/api/auth/reauthenticate",
        Some(token),
        Some(json!({ "message": message, "signature": signature })),
    )
    .await
}

async fn logout_others(app: &TestApp, token: &str) -> reqwest::Response {
    let keep = "/api/auth/logout-all?keepCurrent=true";
    app.call(Method::POST, keep, Some(token), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_challenge_makes_the_session_recent_again() {
    let app = TestApp::spawn().await;
    let (w1, w2, w3) = (Wallet::random(), Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let token = csrf(&me);
    assert_eq!(app.link(&token, &w2).await.status(), StatusCode::CREATED);
    // A link message for w3, signed while the session was recent.
    let link_message = app.link_challenge(&token, &w3.address).await;
    let link_body = json!({ "message": link_message, "signature": w3.sign(&link_message) });

    let session_id = me["session"]["id"].as_str().unwrap();
    set_authenticated_at(&app, session_id, Some(ten_minutes_ago())).await;
    all_guarded_changes_are_refused(&app, &token, &w2).await;
    let resp = app
        .call(
            Method::POST,
            "/api/wallets",
            Some(&token),
            Some(link_body.clone()),
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "reauthentication_required").await;

    // The challenge: the session's own wallet by default, saying what it is for.
    let message = reauth_message(&app, &token, None).await;
    assert!(
        message.contains(&format!("\n{}\n", w1.address)),
        "{message}"
    );
    assert!(message.contains("Confirm a sensitive change"), "{message}");
    assert!(
        message.contains(me["user"]["id"].as_str().unwrap()),
        "{message}"
    );
    // Signed by another wallet, it is refused (and the session stays not recent).
    expect_error(
        reauthenticate(&app, &token, &message, &w2.sign(&message)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;
    expect_error(
        logout_others(&app, &token).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;

    // Another of the account's wallets can re-authenticate too.
    let message = reauth_message(&app, &token, Some(&w2.address.to_lowercase())).await;
    assert!(
        message.contains(&format!("\n{}\n", w2.address)),
        "{message}"
    );
    let signature = w2.sign(&message);
    let resp = reauthenticate(&app, &token, &message, &signature).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let session: Value = app.get("/api/auth/session").await.json().await.unwrap();
    let at = session["session"]["authenticatedAt"].as_str().unwrap();
    let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339);
    let age = time::OffsetDateTime::now_utc() - at.unwrap();
    assert!(
        age < time::Duration::minutes(1),
        "signed just now: {session}"
    );
    // Once only.
    expect_error(
        reauthenticate(&app, &token, &message, &signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;

    // The link message refused before was not spent: it works now.
    let resp = app
        .call(Method::POST, "/api/wallets", Some(&token), Some(link_body))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let unlink = format!("/api/wallets/{}", w2.address);
    let resp = app.call(Method::DELETE, &unlink, Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        logout_others(&app, &token).await.status(),
        StatusCode::NO_CONTENT
    );
    let events: Value = app.get("/api/account/events").await.json().await.unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"reauthenticated"), "{kinds:?}");
    assert!(kinds.contains(&"reauthentication_failed"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_this_sessions_challenge_re_authenticates() {
    let app = TestApp::spawn().await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let token = csrf(&me);
    assert_eq!(app.link(&token, &w2).await.status(), StatusCode::CREATED);
    // A challenge for w2 signed while it was on the account, then w2 is unlinked.
    let w2_message = reauth_message(&app, &token, Some(&w2.address)).await;
    let unlink = format!("/api/wallets/{}", w2.address);
    let resp = app.call(Method::DELETE, &unlink, Some(&token), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    let session_id = me["session"]["id"].as_str().unwrap();
    set_authenticated_at(&app, session_id, Some(ten_minutes_ago())).await;

    // A sign-in message (a sign-in nonce) is refused.
    let sign_in = MessageSpec::new(&w1, &app.nonce().await).render();
    expect_error(
        reauthenticate(&app, &token, &sign_in, &w1.sign(&sign_in)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
    // So is another session's challenge, even of the same account and wallet.
    let elsewhere = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let other_token = csrf(&elsewhere.sign_in(&w1).await);
    let other_message = reauth_message(&elsewhere, &other_token, None).await;
    let other_signature = w1.sign(&other_message);
    expect_error(
        reauthenticate(&app, &token, &other_message, &other_signature).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;
    // A wallet that has left the account cannot re-authenticate it.
    expect_error(
        reauthenticate(&app, &token, &w2_message, &w2.sign(&w2_message)).await,
        StatusCode::NOT_FOUND,
        "wallet_not_found",
    )
    .await;
    // Nor can a challenge be had for a wallet that is not the account's.
    let stranger = Wallet::random();
    expect_error(
        reauth_challenge(&app, &token, Some(&stranger.address)).await,
        StatusCode::NOT_FOUND,
        "wallet_not_found",
    )
    .await;
    expect_error(
        logout_others(&app, &token).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
    // The other session's challenge was not spent by the refusal: it still works there.
    let resp = reauthenticate(&elsewhere, &other_token, &other_message, &other_signature).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // Without a session, or without the CSRF token, there is no challenge.
    let anonymous = cookie_client()
        .post(app.url("/api/auth/reauthenticate/challenge"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let resp = app
        .call(
            Method::POST,
            "/api/auth/reauthenticate/challenge",
            None,
            Some(json!({})),
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN, "csrf_invalid").await;
    elsewhere.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_from_before_the_migration_stay_signed_in_but_not_recent() {
    if common::postgres::skip_unless_sqlite("a SQLite file of schema 3, migrated on start") {
        return;
    }
    // A database at schema 3 (before sessions.authenticated_at) with a live session.
    let secret = "a secret for this test that is long enough";
    let dir = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let mut settings = test_settings(&dir);
    settings.security.secret = Some(secret.to_string().into());
    std::fs::create_dir_all(settings.database.path.parent().unwrap()).unwrap();
    let wallet = Wallet::random();
    let token = siwe_server::domain::token::Keys::new_token(0);
    let keys = siwe_server::domain::token::Keys::from_secret(secret.as_bytes());
    {
        let conn = rusqlite::Connection::open(&settings.database.path).unwrap();
        for sql in [
            include_str!("../src/db/migrations/0001_init.sql"),
            include_str!("../src/db/migrations/0002_accounts.sql"),
            include_str!("../src/db/migrations/0003_spent_nonces.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        let now = now_ms();
        conn.execute(
            "INSERT INTO users (id, name, email, email_verified, created_at)
             VALUES ('u1', 'Old', NULL, 0, ?1)",
            [now],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO wallets (address, user_id, chain_id, linked_at, is_primary)
             VALUES (?1, 'u1', 1, ?2, 1)",
            rusqlite::params![wallet.address, now],
        )
        .unwrap();
        // Signed in a moment ago, but before the upgrade: nothing says when it signed.
        conn.execute(
            "INSERT INTO sessions (id, token_hash, user_id, address, chain_id, created_at,
                                   expires_at, last_seen_at)
             VALUES ('s1', ?1, 'u1', ?2, 1, ?3, ?4, ?3)",
            rusqlite::params![
                keys.session_token_key(&token),
                wallet.address,
                now,
                now + 3_600_000
            ],
        )
        .unwrap();
    }
    let app = TestApp::spawn_in(dir, settings).await;
    let bearer = |method: Method, path: &str| {
        reqwest::Client::new()
            .request(method, app.url(path))
            .bearer_auth(&token)
    };
    let resp = bearer(Method::GET, "/api/auth/session")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "still signed in");
    let resp = bearer(Method::POST, "/api/auth/logout-all?keepCurrent=true")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "reauthentication_required").await;
    // A signature makes it recent.
    let challenge: Value = bearer(Method::POST, "/api/auth/reauthenticate/challenge")
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = challenge["message"].as_str().unwrap();
    let resp = bearer(Method::POST, "/api/auth/reauthenticate")
        .json(&json!({ "message": message, "signature": wallet.sign(message) }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = bearer(Method::POST, "/api/auth/logout-all?keepCurrent=true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}
