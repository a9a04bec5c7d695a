//! Accounts with several wallets: linking, unlinking, the primary wallet, identity rules,
//! sessions, profile and the security event log.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn csrf(body: &Value) -> String {
    body["csrfToken"].as_str().unwrap().to_string()
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

async fn wallets(app: &TestApp) -> Vec<Value> {
    json_of(app.get("/api/wallets").await)
        .await
        .as_array()
        .unwrap()
        .clone()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.sql_value(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_a_wallet_with_a_challenge_and_sign_in_with_it() {
    let app = TestApp::spawn().await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let token = csrf(&me);

    let challenge = json_of(
        app.call(
            Method::POST,
            "/api/wallets/challenge",
            Some(&token),
            Some(json!({"address": w2.address.to_lowercase(), "chainId": 10})),
        )
        .await,
    )
    .await;
    let message = challenge["message"].as_str().unwrap();
    assert!(
        message.contains(&w2.address),
        "the challenge names the wallet in EIP-55 form"
    );
    assert!(
        message.contains(me["user"]["id"].as_str().unwrap()),
        "and the account"
    );
    assert!(message.contains("Chain ID: 10") && message.contains("Expiration Time: "));
    assert!(challenge["nonce"].is_string() && challenge["expiresAt"].is_string());

    let resp = app
        .call(
            Method::POST,
            "/api/wallets",
            Some(&token),
            Some(json!({"message": message, "signature": w2.sign(message)})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let wallet = json_of(resp).await;
    assert_eq!(wallet["address"], w2.address.as_str());
    assert_eq!(wallet["isPrimary"], false);

    let list = wallets(&app).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["address"], w1.address.as_str());
    assert_eq!(list[0]["isPrimary"], true);
    assert!(list[0]["lastSignInAt"].is_string());
    assert_eq!(list[1]["lastSignInAt"], Value::Null);

    // The linked wallet signs in to the same account.
    let other = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let again = other.sign_in(&w2).await;
    assert_eq!(again["user"]["id"], me["user"]["id"]);
    assert_eq!(again["created"], false);
    assert_eq!(again["user"]["wallets"].as_array().unwrap().len(), 2);
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_link_attaches_to_the_signed_in_account() {
    let app = TestApp::spawn().await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let message = MessageSpec::new(&w2, &app.nonce().await).render();
    let body = json!({"message": message, "signature": w2.sign(&message), "link": true});
    // Without the CSRF token the cookie session does not count.
    let (status, code) = error_code(
        app.call(Method::POST, "/api/auth/verify", None, Some(body.clone()))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_invalid")
    );

    let message = challenge(&app, csrf(&me), w2.address.clone()).await;
    let body = json!({"message": message, "signature": w2.sign(&message), "link": true});
    let resp = app
        .call(
            Method::POST,
            "/api/auth/verify",
            Some(&csrf(&me)),
            Some(body),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let linked = json_of(resp).await;
    assert_eq!(linked["user"]["id"], me["user"]["id"]);
    assert_eq!(linked["created"], false);
    assert_eq!(linked["session"]["address"], w2.address.as_str());
    assert_eq!(linked["user"]["wallets"].as_array().unwrap().len(), 2);

    // link without any session
    let stranger = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let w3 = Wallet::random();
    let message = MessageSpec::new(&w3, &stranger.nonce().await).render();
    let resp = stranger
        .call(
            Method::POST,
            "/api/auth/verify",
            None,
            Some(json!({"message": message, "signature": w3.sign(&message), "link": true})),
        )
        .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    stranger.stop().await;
}

/// An attacker holding a victim's signed, unused sign-in message (say, from a phishing page
/// that asked the victim to sign in) cannot attach the victim's wallet to their own account,
/// through either endpoint; the message is not spent by it, and still signs the victim in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_sign_in_message_cannot_link_a_wallet() {
    let app = TestApp::spawn().await;
    let attacker = app.sign_in(&Wallet::random()).await;
    let victim = Wallet::random();
    let message = MessageSpec::new(&victim, &app.nonce().await).render();
    let signed = json!({"message": message, "signature": victim.sign(&message)});
    let mut with_link = signed.clone();
    with_link["link"] = json!(true);
    for (path, body) in [("/api/wallets", signed), ("/api/auth/verify", with_link)] {
        let resp = app
            .call(Method::POST, path, Some(&csrf(&attacker)), Some(body))
            .await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    }
    assert_eq!(wallets(&app).await.len(), 1);
    let sql = format!(
        "SELECT count(*) FROM wallets WHERE address = '{}'",
        victim.address
    );
    assert_eq!(count(&app, &sql), 0, "the wallet is on no account");
    assert_eq!(count(&app, "SELECT count(*) FROM spent_nonces"), 1);

    let elsewhere = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let resp = elsewhere.verify(&message, &victim.sign(&message)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let signed_in = json_of(resp).await;
    assert_eq!(signed_in["created"], true, "the victim's own new account");
    assert_ne!(signed_in["user"]["id"], attacker["user"]["id"]);
    elsewhere.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_of_another_account_is_never_moved() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_in(a.dir.clone(), test_settings(&a.dir)).await;
    let (wa, wb) = (Wallet::random(), Wallet::random());
    let me = a.sign_in(&wa).await;
    let them = b.sign_in(&wb).await;

    expect_error(
        a.link(&csrf(&me), &wb).await,
        StatusCode::CONFLICT,
        "wallet_already_linked",
    )
    .await;
    expect_error(
        a.link(&csrf(&me), &wa).await,
        StatusCode::CONFLICT,
        "wallet_already_yours",
    )
    .await;

    assert_eq!(wallets(&a).await.len(), 1);
    assert_eq!(wallets(&b).await.len(), 1);
    let again = b.sign_in(&wb).await;
    assert_eq!(
        again["user"]["id"], them["user"]["id"],
        "the wallet still signs in to its account"
    );
    b.stop().await;
}

/// A link the identity rules refuse after its nonce was spent (the wallet is another
/// account's) keeps the nonce spent: the same signed message is then refused as used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_refused_by_the_rules_spends_its_nonce() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_in(a.dir.clone(), test_settings(&a.dir)).await;
    let theirs = Wallet::random();
    let me = a.sign_in(&Wallet::random()).await;
    b.sign_in(&theirs).await;

    let token = csrf(&me);
    let message = a.link_challenge(&token, &theirs.address).await;
    let body = json!({ "message": message, "signature": theirs.sign(&message) });
    let link = || {
        a.call(
            Method::POST,
            "/api/wallets",
            Some(&token),
            Some(body.clone()),
        )
    };
    expect_error(link().await, StatusCode::CONFLICT, "wallet_already_linked").await;
    expect_error(link().await, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    assert_eq!(wallets(&a).await.len(), 1);
    b.stop().await;
}

async fn challenge(app: &TestApp, token: String, address: String) -> String {
    app.link_challenge(&token, &address).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_challenges_are_bound_to_account_and_address() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_in(a.dir.clone(), test_settings(&a.dir)).await;
    let me = a.sign_in(&Wallet::random()).await;
    let them = b.sign_in(&Wallet::random()).await;
    let target = Wallet::random();

    // A's challenge, signed by the target, used by B: refused, and not spent (it is not B's
    // to spend); A can still use it.
    let message = challenge(&a, csrf(&me), target.address.clone()).await;
    let signed = json!({"message": message, "signature": target.sign(&message)});
    let (status, code) = error_code(
        b.call(
            Method::POST,
            "/api/wallets",
            Some(&csrf(&them)),
            Some(signed.clone()),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_nonce")
    );
    let resp = a
        .call(Method::POST, "/api/wallets", Some(&csrf(&me)), Some(signed))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(wallets(&b).await.len(), 1);

    // A challenge cannot sign anyone in.
    let message = challenge(&a, csrf(&me), target.address.clone()).await;
    expect_error(
        a.verify(&message, &target.sign(&message)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_nonce",
    )
    .await;

    // Bad addresses.
    for address in [
        "0x1234",
        "hello",
        "0xC02aaa39b223FE8D0A0e5C4F27eAD9083C756Cc2",
    ] {
        let resp = a
            .call(
                Method::POST,
                "/api/wallets/challenge",
                Some(&csrf(&me)),
                Some(json!({"address": address})),
            )
            .await;
        let (status, code) = error_code(resp).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_address"),
            "{address}"
        );
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_accounts_racing_to_link_one_address_one_wins() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_in(a.dir.clone(), test_settings(&a.dir)).await;
    let me = a.sign_in(&Wallet::random()).await;
    let them = b.sign_in(&Wallet::random()).await;
    let contested = Wallet::random();
    let (mine, theirs) = (csrf(&me), csrf(&them));
    for _ in 0..5 {
        let contested_round = Wallet::random();
        let (ra, rb) = tokio::join!(
            a.link(&mine, &contested_round),
            b.link(&theirs, &contested_round)
        );
        let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [201, 409]);
    }
    let (ra, rb) = tokio::join!(a.link(&mine, &contested), b.link(&theirs, &contested));
    assert_ne!(ra.status(), rb.status());
    assert_eq!(
        count(
            &a,
            &format!(
                "SELECT count(*) FROM wallets WHERE address = '{}'",
                contested.address
            )
        ),
        1
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_refuses_the_last_wallet_and_locks_the_removed_one_out() {
    let app = TestApp::spawn().await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let token = csrf(&me);
    let path = |w: &Wallet| format!("/api/wallets/{}", w.address);

    let (status, code) = error_code(
        app.call(Method::DELETE, &path(&w1), Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "last_sign_in_method")
    );
    assert_eq!(app.link(&token, &w2).await.status(), StatusCode::CREATED);

    // w2 has its own session somewhere else; unlinking w2 ends it.
    let elsewhere = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    elsewhere.sign_in(&w2).await;
    assert_eq!(
        elsewhere.get("/api/auth/session").await.status(),
        StatusCode::OK
    );

    expect_error(
        app.call(Method::DELETE, &path(&w2), None, None).await,
        StatusCode::FORBIDDEN,
        "csrf_invalid",
    )
    .await;
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/wallets/{}", w2.address.to_lowercase()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        elsewhere.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/auth/session").await.status(),
        StatusCode::OK,
        "this session stays"
    );
    let (status, code) = error_code(
        app.call(Method::DELETE, &path(&w2), Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "wallet_not_found")
    );

    // The removed wallet no longer signs in to this account.
    let fresh = elsewhere.sign_in(&w2).await;
    assert_ne!(fresh["user"]["id"], me["user"]["id"]);
    assert_eq!(fresh["created"], true);
    elsewhere.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_wallet_can_change_and_passes_on_when_removed() {
    let app = TestApp::spawn().await;
    let (w1, w2, w3) = (Wallet::random(), Wallet::random(), Wallet::random());
    let token = csrf(&app.sign_in(&w1).await);
    app.link(&token, &w2).await;
    app.link(&token, &w3).await;
    let primary = |list: Vec<Value>| {
        let p: Vec<String> = list
            .iter()
            .filter(|w| w["isPrimary"] == true)
            .map(|w| w["address"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(p.len(), 1, "exactly one primary");
        p[0].clone()
    };
    assert_eq!(primary(wallets(&app).await), w1.address);
    let resp = app
        .call(
            Method::POST,
            &format!("/api/wallets/{}/primary", w3.address),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(primary(wallets(&app).await), w3.address);
    let account = json_of(app.get("/api/account").await).await;
    assert_eq!(
        account["wallets"][0]["address"],
        w3.address.as_str(),
        "primary first"
    );

    let resp = app
        .call(
            Method::POST,
            &format!("/api/wallets/{}/primary", Wallet::random().address),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(error_code(resp).await.1, "wallet_not_found");

    app.call(
        Method::DELETE,
        &format!("/api/wallets/{}", w3.address),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        primary(wallets(&app).await),
        w1.address,
        "the oldest remaining wallet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_name_the_browser_and_os_of_their_user_agent() {
    const FIREFOX_ON_MACOS: &str =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0";
    let mut app = TestApp::spawn().await;
    app.client = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(FIREFOX_ON_MACOS)
        .build()
        .unwrap();
    app.sign_in(&Wallet::random()).await;

    let list = json_of(app.get("/api/auth/sessions").await).await;
    assert_eq!(list[0]["userAgent"], FIREFOX_ON_MACOS);
    assert_eq!(list[0]["device"]["browser"], "Firefox");
    assert_eq!(list[0]["device"]["os"], "macOS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_can_be_listed_and_ended() {
    let app = TestApp::spawn().await;
    let w = Wallet::random();
    let me = app.sign_in(&w).await;
    let token = csrf(&me);
    let phone = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let tablet = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let phone_session = phone.sign_in(&w).await;
    tablet.sign_in(&w).await;

    let list = json_of(app.get("/api/auth/sessions").await).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], me["session"]["id"]);
    for s in list {
        assert_eq!(s["address"], w.address.as_str());
        assert_eq!(s["ip"], "127.0.0.1");
        // reqwest sends no User-Agent: nothing to name.
        assert_eq!(s["userAgent"], Value::Null);
        assert_eq!(s["device"], json!({ "browser": null, "os": null }));
        assert!(
            s["lastSeenAt"].is_string() && s["createdAt"].is_string() && s["expiresAt"].is_string()
        );
    }

    let id = phone_session["session"]["id"].as_str().unwrap();
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/auth/sessions/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        phone.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/auth/sessions/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(error_code(resp).await.1, "session_not_found");
    // Another account's session cannot be ended from here.
    let stranger = phone.sign_in(&Wallet::random()).await;
    let id = stranger["session"]["id"].as_str().unwrap();
    let resp = app
        .call(
            Method::DELETE,
            &format!("/api/auth/sessions/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(error_code(resp).await.1, "session_not_found");
    assert_eq!(
        phone.get("/api/auth/session").await.status(),
        StatusCode::OK
    );

    // Everywhere but here, then everywhere.
    let resp = app
        .call(
            Method::POST,
            "/api/auth/logout-all?keepCurrent=true",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers().get("set-cookie").is_none());
    assert_eq!(
        tablet.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/auth/session").await.status(), StatusCode::OK);
    tablet.sign_in(&w).await;
    let resp = app
        .call(Method::POST, "/api/auth/logout-all", Some(&token), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(resp.headers()).contains("Max-Age=0"));
    assert_eq!(
        tablet.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    phone.stop().await;
    tablet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_name_and_email() {
    let app = TestApp::spawn().await;
    let me = app.sign_in(&Wallet::random()).await;
    let token = csrf(&me);
    let put = |body: Value| app.call(Method::PUT, "/api/account", Some(&token), Some(body));

    let user = json_of(put(json!({"name": "  Ada  "})).await).await;
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["email"], Value::Null);
    let user = json_of(put(json!({"email": "Ada@Example.org"})).await).await;
    assert_eq!(user["email"], "Ada@Example.org");
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["name"], "Ada", "left-out fields stay");
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "a\u{7}b"}),
        json!({"email": "not an email"}),
    ] {
        let (status, code) = error_code(put(bad.clone()).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}"
        );
    }
    let (status, _) = error_code(
        app.call(
            Method::PUT,
            "/api/account",
            None,
            Some(json!({"name": "x"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An unverified email reserves nothing: another account may name it too (pending on
    // both until one of them verifies it).
    let other = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let them = other.sign_in(&Wallet::random()).await;
    let resp = other
        .call(
            Method::PUT,
            "/api/account",
            Some(&csrf(&them)),
            Some(json!({"email": "ada@example.ORG"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json_of(resp).await["emailVerified"], false);

    let user = json_of(put(json!({"email": null})).await).await;
    assert_eq!(user["email"], Value::Null);
    let resp = other
        .call(
            Method::PUT,
            "/api/account",
            Some(&csrf(&them)),
            Some(json!({"email": "ada@example.org"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_wallet_with_an_email_creates_an_account_without_email_configured() {
    let app = TestApp::spawn().await;
    let w1 = Wallet::random();
    let resp = app.verify_with_email(&w1, "me@example.org").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json_of(resp).await;
    assert_eq!(body["created"], true);
    assert_eq!(body["user"]["email"], "me@example.org");
    assert_eq!(body["user"]["emailVerified"], false);

    // Another new wallet naming that (unverified) email gets its own account with the address
    // pending, exactly as if nobody had it: nothing is attached, and nothing is revealed.
    let w2 = Wallet::random();
    let fresh = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    let resp = fresh.verify_with_email(&w2, "ME@example.org").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let second = json_of(resp).await;
    assert_eq!(second["created"], true);
    assert_ne!(second["user"]["id"], body["user"]["id"]);
    assert_eq!(second["user"]["emailVerified"], false);
    assert_eq!(second["user"]["wallets"].as_array().unwrap().len(), 1);

    // A linked wallet ignores the email and signs in to its account.
    let again = fresh.verify_with_email(&w1, "other@example.org").await;
    assert_eq!(json_of(again).await["user"]["id"], body["user"]["id"]);

    let resp = fresh.verify_with_email(&w2, "nope").await;
    assert_eq!(error_code(resp).await.1, "invalid_request");
    fresh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_events_show_what_happened() {
    let app = TestApp::spawn().await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    let token = csrf(&me);
    app.link(&token, &w2).await;
    app.call(
        Method::DELETE,
        &format!("/api/wallets/{}", w2.address),
        Some(&token),
        None,
    )
    .await;
    // A refused sign-in with this account's wallet.
    let mut spec = MessageSpec::new(&w1, &app.nonce().await);
    spec.domain = "evil.example".into();
    app.verify_spec(&w1, &spec).await;

    let events = json_of(app.get("/api/account/events").await).await;
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "sign_in_failed",
            "wallet_unlinked",
            "wallet_linked",
            "sign_in"
        ],
        "newest first"
    );
    let failed = &events[0];
    assert_eq!(failed["detail"], "domain_mismatch");
    assert_eq!(failed["address"], w1.address.as_str());
    assert_eq!(failed["ip"], "127.0.0.1");
    let limited = json_of(app.get("/api/account/events?limit=2").await).await;
    assert_eq!(limited.as_array().unwrap().len(), 2);

    // Another account sees none of these.
    let other = TestApp::spawn_in(app.dir.clone(), test_settings(&app.dir)).await;
    other.sign_in(&Wallet::random()).await;
    let theirs = json_of(other.get("/api/account/events").await).await;
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_security_events_are_deleted() {
    let app = TestApp::spawn_with(|s| {
        s.audit.retention_days = 1;
        s.database.cleanup_interval_secs = 1;
    })
    .await;
    app.sign_in(&Wallet::random()).await;
    app.sql_execute(
        "INSERT INTO security_events (at, kind) VALUES (1000, 'sign_in')",
        vec![],
    )
    .await;
    // Waits for the cleanup, which runs every second (up to 10 s, for a slow machine).
    let mut left = 2;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = count(&app, "SELECT count(*) FROM security_events");
        if left == 1 {
            break;
        }
    }
    assert_eq!(left, 1, "the old event went, the new one stayed");
}
