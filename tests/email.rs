//! Email against a real SMTP server: Python's aiosmtpd (tests/suites/requirements.txt), started
//! on a loopback port by `common::smtp`, writing what it receives to a maildir that the tests
//! read.

mod common;

use std::time::Duration;

use common::{smtp::*, *};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use siwe_server::config::SmtpTls;

/// A hidden field's value in a link page's form.
fn form_field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("the field") + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// Opens an emailed link in `client` (GET, as a browser does) and returns the page's form:
/// its action and its fields.
async fn open_link(
    app: &TestApp,
    client: &reqwest::Client,
    link: &str,
) -> (String, Vec<(String, String)>) {
    let resp = client
        .get(app.url(link))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = resp.text().await.unwrap();
    let action_start = page.find("action=\"").expect("a form") + "action=\"".len();
    let action = page[action_start..].split('"').next().unwrap().to_string();
    let fields = ["token", "csrf"]
        .into_iter()
        .map(|name| (name.to_string(), form_field(&page, name)))
        .collect();
    (action, fields)
}

/// Opens an emailed link in `client` and presses its page's button, as a browser does.
async fn confirm_link(app: &TestApp, client: &reqwest::Client, link: &str) -> reqwest::Response {
    let (action, fields) = open_link(app, client, link).await;
    client
        .post(app.url(&action))
        .header("Origin", URI)
        .header("Sec-Fetch-Site", "same-origin")
        .form(&fields)
        .send()
        .await
        .unwrap()
}

/// `POST /api/auth/challenge` for the message asking that `wallet` join the account with `email`.
async fn attach_challenge(app: &TestApp, wallet: &Wallet, email: &str) -> reqwest::Response {
    app.call(
        Method::POST,
        "/api/auth/challenge",
        None,
        Some(json!({"address": wallet.address, "email": email})),
    )
    .await
}

/// Asks, signed by `wallet`, that it join the account with `email`: the challenge, then verify.
async fn request_attach(app: &TestApp, wallet: &Wallet, email: &str) -> reqwest::Response {
    let resp = attach_challenge(app, wallet, email).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let challenge: Value = resp.json().await.unwrap();
    let message = challenge["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(&format!(
            "Add this wallet to the account with email {} on localhost:8080.",
            email.to_lowercase()
        )),
        "{message}"
    );
    verify_message_with_email(app, wallet, &message, email).await
}

async fn verify_message_with_email(
    app: &TestApp,
    wallet: &Wallet,
    message: &str,
    email: &str,
) -> reqwest::Response {
    app.call(
        Method::POST,
        "/api/auth/verify",
        None,
        Some(json!({"message": message, "signature": wallet.sign(message), "email": email})),
    )
    .await
}

/// The account's email and whether it is verified.
async fn email_state(app: &TestApp) -> (Option<String>, Option<bool>) {
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    (
        account["email"].as_str().map(str::to_string),
        account["emailVerified"].as_bool(),
    )
}

/// A mail sink and a server that sends through it (keep the folder alive as long as both).
async fn with_email() -> (tempfile::TempDir, SmtpSink, TestApp) {
    let dir = tempfile::TempDir::new().unwrap();
    let sink = SmtpSink::start(dir.path());
    let app = spawn_with_email(&sink).await;
    (dir, sink, app)
}

async fn spawn_with_email(sink: &SmtpSink) -> TestApp {
    spawn_with_email_and(sink, |_| {}).await
}

/// A mail sink and a server that lets wallets join accounts by email (`email.wallet_attach`).
async fn with_email_attach() -> (tempfile::TempDir, SmtpSink, TestApp) {
    let dir = tempfile::TempDir::new().unwrap();
    let sink = SmtpSink::start(dir.path());
    let app = spawn_with_email_and(&sink, |s| s.email.wallet_attach = true).await;
    (dir, sink, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_an_email_sends_a_link_that_verifies_it_once() {
    let (_dir, sink, app) = with_email().await;
    let me = app.sign_in(&Wallet::random()).await;
    let csrf = me["csrfToken"].as_str().unwrap();
    let user: Value = app
        .call(
            Method::PUT,
            "/api/account",
            Some(csrf),
            Some(json!({"email": "ada@example.org"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["emailVerified"], false);

    let mail = sink.message(1).await;
    assert!(mail.contains("To: ada@example.org"), "{mail}");
    assert!(mail.contains("From: Sign-in <login@example.org>"), "{mail}");
    let link = link_in(&mail);
    assert!(
        link.starts_with("/api/account/verify-email?token="),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap();
    let stored: Vec<Vec<u8>> = app
        .service
        .db()
        .read(|conn| conn.query_vec("SELECT token_hash FROM email_tokens", &[], |r| r.get(0)))
        .unwrap();
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|hash| !hash.windows(token.len()).any(|w| w == token.as_bytes())),
        "the token is stored hashed"
    );

    let resp = confirm_link(&app, &cookie_client(), &link).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/?email_verified=1");
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert_eq!(account["emailVerified"], true);
    let resp = cookie_client().get(app.url(&link)).send().await.unwrap();
    let (status, code) = error_code(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_token"),
        "single use"
    );

    // A link for an email that has since changed verifies nothing.
    app.call(
        Method::PUT,
        "/api/account",
        Some(csrf),
        Some(json!({"email": "bob@example.org"})),
    )
    .await;
    let stale = link_in(&sink.message(2).await);
    app.call(
        Method::PUT,
        "/api/account",
        Some(csrf),
        Some(json!({"email": "carol@example.org"})),
    )
    .await;
    let resp = cookie_client().get(app.url(&stale)).send().await.unwrap();
    assert_eq!(error_code(resp).await.1, "invalid_token");
    assert_eq!(
        email_state(&app).await,
        (Some("carol@example.org".to_string()), Some(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_wallet_giving_a_verified_accounts_email_gets_a_link_to_join_it() {
    let (_dir, sink, app) = with_email_attach().await;
    let (owner_wallet, new_wallet) = (Wallet::random(), Wallet::random());
    let owner = app.sign_in(&owner_wallet).await;
    let csrf = owner["csrfToken"].as_str().unwrap();
    app.call(
        Method::PUT,
        "/api/account",
        Some(csrf),
        Some(json!({"email": "owner@example.org"})),
    )
    .await;
    let resp = confirm_link(&app, &cookie_client(), &link_in(&sink.message(1).await)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // The new wallet, in another browser, claims the owner's email.
    let browser = TestApp::spawn_in(app.dir.clone(), app.settings_clone()).await;
    let resp = request_attach(&browser, &new_wallet, "Owner@Example.org").await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "not signed in yet"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "email_verification_sent");
    assert_eq!(
        browser.get("/api/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let mail = decoded(&sink.message(2).await);
    assert!(
        mail.contains("To: owner@example.org") && mail.contains(&new_wallet.address),
        "{mail}"
    );
    let link = link_in(&mail);
    assert!(link.starts_with("/api/auth/email-link?token="), "{link}");
    let resp = confirm_link(&browser, &browser.client, &link).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(resp.headers()).starts_with("siwe_session="));
    let session: Value = browser.get("/api/auth/session").await.json().await.unwrap();
    assert_eq!(session["user"]["id"], owner["user"]["id"]);
    assert_eq!(session["session"]["address"], new_wallet.address.as_str());
    assert_eq!(session["user"]["wallets"].as_array().unwrap().len(), 2);
    // A session opened by an emailed link proved a mailbox, not a wallet: not recent (sudo mode).
    let everywhere = "/api/auth/logout-all?keepCurrent=true";
    let link_csrf = session["csrfToken"].as_str();
    expect_error(
        browser
            .call(Method::POST, everywhere, link_csrf, None)
            .await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    )
    .await;
    assert_eq!(
        error_code(browser.get(&link).await).await.1,
        "invalid_token"
    );
    // The account's address is told, and the security log has it.
    let notice = decoded(&sink.message(3).await);
    assert!(
        notice.contains("To: owner@example.org")
            && notice.contains("was added")
            && notice.contains(&new_wallet.address),
        "{notice}"
    );
    let events: Value = browser
        .get("/api/account/events")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "wallet_linked" && e["address"] == new_wallet.address.as_str()),
        "{events}"
    );

    // From now on the wallet signs in to the owner's account directly.
    assert_eq!(
        browser.sign_in(&new_wallet).await["user"]["id"],
        owner["user"]["id"]
    );
    browser.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_email_claim_never_attaches_a_wallet() {
    let (_dir, sink, app) = with_email_attach().await;
    let first = Wallet::random();
    // A new account with an email: created, and a verification email sent.
    let resp = app.verify_with_email(&first, "squat@example.org").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let first_user: Value = resp.json().await.unwrap();
    assert!(link_in(&sink.message(1).await).starts_with("/api/account/verify-email"));

    // Another wallet naming that (unverified) email gets an account of its own; nothing is
    // attached to the first, and no wallet link is mailed.
    let second = Wallet::random();
    let other = TestApp::spawn_in(app.dir.clone(), app.settings_clone()).await;
    let resp = other.verify_with_email(&second, "squat@example.org").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let second_user: Value = resp.json().await.unwrap();
    assert_ne!(second_user["user"]["id"], first_user["user"]["id"]);
    assert_eq!(wallets_of(&app).await, vec![first.address.clone()]);
    assert!(link_in(&sink.message(2).await).starts_with("/api/account/verify-email"));
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_somebody_elses_address_does_not_keep_them_from_verifying_it() {
    let (_dir, sink, victim) = with_email().await;
    // The squatter names the address first, at sign-up and in a profile.
    let squatter = TestApp::spawn_in(victim.dir.clone(), victim.settings_clone()).await;
    let resp = squatter
        .verify_with_email(&Wallet::random(), "victim@example.org")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let squatters_link = link_in(&sink.message(1).await);

    // The owner of the address names it too, and verifies it.
    let me = victim.sign_in(&Wallet::random()).await;
    let resp = victim
        .call(
            Method::PUT,
            "/api/account",
            me["csrfToken"].as_str(),
            Some(json!({"email": "Victim@example.org"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = confirm_link(&victim, &cookie_client(), &link_in(&sink.message(2).await)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(email_state(&victim).await.1, Some(true));

    // The squatter's link (had they got it) is refused, and spent.
    let resp = cookie_client()
        .get(victim.url(&squatters_link))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::CONFLICT, "email_in_use").await;
    assert_eq!(email_state(&squatter).await.1, Some(false));

    // Naming a verified address again sends nothing there and answers as for any address.
    let other = squatter.sign_in(&Wallet::random()).await;
    let resp = squatter
        .call(
            Method::PUT,
            "/api/account",
            other["csrfToken"].as_str(),
            Some(json!({"email": "victim@example.org"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), 2);
    squatter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_refused_because_another_account_verified_first_spends_the_link() {
    let (_dir, sink, first) = with_email().await;
    let second = TestApp::spawn_in(first.dir.clone(), first.settings_clone()).await;
    for app in [&first, &second] {
        let me = app.sign_in(&Wallet::random()).await;
        app.call(
            Method::PUT,
            "/api/account",
            me["csrfToken"].as_str(),
            Some(json!({"email": "both@example.org"})),
        )
        .await;
    }
    let (first_link, second_link) = (
        link_in(&sink.message(1).await),
        link_in(&sink.message(2).await),
    );
    // Both pages are open before either is confirmed.
    let (first_browser, second_browser) = (cookie_client(), cookie_client());
    let (action, first_form) = open_link(&first, &first_browser, &first_link).await;
    let (_, second_form) = open_link(&second, &second_browser, &second_link).await;
    let post = |client: &reqwest::Client, form: &Vec<(String, String)>| {
        client
            .post(first.url(&action))
            .header("Origin", URI)
            .form(form)
            .send()
    };
    assert_eq!(
        post(&first_browser, &first_form).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let resp = post(&second_browser, &second_form).await.unwrap();
    expect_error(resp, StatusCode::CONFLICT, "email_in_use").await;
    assert_eq!(email_state(&second).await.1, Some(false));
    let resp = post(&second_browser, &second_form).await.unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_token").await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fourth_mail_within_the_hour_to_one_address_is_not_sent() {
    let (_dir, sink, app) = with_email().await;
    let me = app.sign_in(&Wallet::random()).await;
    for _ in 0..4 {
        let resp = app
            .call(
                Method::PUT,
                "/api/account",
                me["csrfToken"].as_str(),
                Some(json!({"email": "bombed@example.org"})),
            )
            .await;
        // Skipped quietly: the answer is the same.
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // Whoever asks, and at sign-up too.
    let resp = app
        .verify_with_email(&Wallet::random(), "Bombed@example.org")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    sink.message(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 3);
    // Other addresses are not affected.
    let resp = app
        .verify_with_email(&Wallet::random(), "someone.else@example.org")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(decoded(&sink.message(4).await).contains("To: someone.else@example.org"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_updates_fall_under_the_auth_rate_limit() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.auth_per_minute = 1;
        s.rate_limit.auth_burst = 4;
    })
    .await;
    // Signing in takes two (nonce and verify), leaving two.
    let me = app.sign_in(&Wallet::random()).await;
    let put = || {
        app.call(
            Method::PUT,
            "/api/account",
            me["csrfToken"].as_str(),
            Some(json!({"name": "Ada"})),
        )
    };
    for _ in 0..2 {
        assert_eq!(put().await.status(), StatusCode::OK);
    }
    let resp = put().await;
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_mail_server_is_a_clear_503() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(move |s| {
        s.email.smtp_host = Some("127.0.0.1".into());
        s.email.smtp_port = port;
        s.email.smtp_tls = SmtpTls::None;
    })
    .await;
    let me = app.sign_in(&Wallet::random()).await;
    let resp = app
        .call(
            Method::PUT,
            "/api/account",
            me["csrfToken"].as_str(),
            Some(json!({"email": "x@example.org"})),
        )
        .await;
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "email_unavailable").await;
    // The address was kept (unverified); saving it again retries the link.
    assert_eq!(
        email_state(&app).await,
        (Some("x@example.org".to_string()), Some(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_the_same_unverified_email_sends_a_new_link() {
    let (_dir, sink, app) = with_email().await;
    let me = app.sign_in(&Wallet::random()).await;
    let csrf = me["csrfToken"].as_str();
    for _ in 0..2 {
        app.call(
            Method::PUT,
            "/api/account",
            csrf,
            Some(json!({"email": "again@example.org"})),
        )
        .await;
    }
    let (first, second) = (
        link_in(&sink.message(1).await),
        link_in(&sink.message(2).await),
    );
    assert_ne!(first, second);
    assert_eq!(
        confirm_link(&app, &cookie_client(), &second).await.status(),
        StatusCode::SEE_OTHER
    );
    // Once verified, saving it again sends nothing.
    app.call(
        Method::PUT,
        "/api/account",
        csrf,
        Some(json!({"email": "again@example.org"})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), 2);
}

/// The account's wallet addresses.
async fn wallets_of(app: &TestApp) -> Vec<String> {
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    account["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["address"].as_str().unwrap().to_string())
        .collect()
}

/// What a mail scanner does with every link: GET and HEAD, without cookies, twice.
async fn scan(app: &TestApp, link: &str) {
    let scanner = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..2 {
        for method in [Method::GET, Method::HEAD] {
            let resp = scanner
                .request(method.clone(), app.url(link))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{method}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_verification_link_changes_nothing_until_its_page_is_confirmed() {
    let (_dir, sink, app) = with_email().await;
    let wallet = Wallet::random();
    let me = app.sign_in(&wallet).await;
    app.call(
        Method::PUT,
        "/api/account",
        me["csrfToken"].as_str(),
        Some(json!({"email": "scan@example.org"})),
    )
    .await;
    let link = link_in(&sink.message(1).await);
    scan(&app, &link).await;
    let unverified = (Some("scan@example.org".to_string()), Some(false));
    assert_eq!(email_state(&app).await, unverified);

    // The page says which address is confirmed, for which account.
    let page = cookie_client()
        .get(app.url(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("scan@example.org") && page.contains(&wallet.address),
        "{page}"
    );

    // Posts that are not from the page in this browser are refused and spend nothing.
    let browser = cookie_client();
    let (action, fields) = open_link(&app, &browser, &link).await;
    assert_eq!(action, "/api/account/verify-email");
    let post = |client: &reqwest::Client| {
        client
            .post(app.url(&action))
            .header("Origin", URI)
            .form(&fields)
    };
    let no_cookie = post(&reqwest::Client::new()).send().await.unwrap();
    expect_error(no_cookie, StatusCode::FORBIDDEN, "csrf_invalid").await;
    let other_browser = cookie_client();
    open_link(&app, &other_browser, &link).await;
    let resp = post(&other_browser).send().await.unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "csrf_invalid").await;
    let resp = browser
        .post(app.url(&action))
        .header("Origin", "https://evil.example")
        .form(&fields)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    let resp = post(&browser)
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    // A browser is told in a page, not JSON.
    let resp = post(&reqwest::Client::new())
        .header("Accept", "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.text().await.unwrap().contains("csrf_invalid"));
    assert_eq!(email_state(&app).await, unverified);

    // From the page, in the browser that opened it: verified.
    let resp = post(&browser).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        email_state(&app).await,
        (Some("scan@example.org".to_string()), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_wallet_link_changes_nothing_until_its_page_is_confirmed() {
    let (_dir, sink, app) = with_email_attach().await;
    let (owner_wallet, new_wallet) = (Wallet::random(), Wallet::random());
    let owner = account_with_verified_email(&app, &sink, &owner_wallet, "joined@example.org").await;

    let resp = request_attach(&app, &new_wallet, "joined@example.org").await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let link = link_in(&sink.message(2).await);
    scan(&app, &link).await;
    assert_eq!(wallets_of(&app).await, vec![owner_wallet.address.clone()]);

    // The page names the wallet and the account it joins.
    let browser = cookie_client();
    let page = browser
        .get(app.url(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needed in [
        new_wallet.address.as_str(),
        owner_wallet.address.as_str(),
        owner["user"]["name"].as_str().unwrap(),
        "joined@example.org",
    ] {
        assert!(page.contains(needed), "{needed} in {page}");
    }
    let (action, fields) = open_link(&app, &browser, &link).await;
    let resp = reqwest::Client::new()
        .post(app.url(&action))
        .form(&fields)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "csrf_invalid").await;
    assert_eq!(wallets_of(&app).await.len(), 1);

    let resp = confirm_link(&app, &browser, &link).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(wallets_of(&app).await.len(), 2);
    let notice = decoded(&sink.message(3).await);
    assert!(
        notice.contains("To: joined@example.org") && notice.contains(&new_wallet.address),
        "{notice}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_wallet_attach_an_accounts_email_never_attaches_a_wallet() {
    let (_dir, sink, app) = with_email().await;
    let owner_wallet = Wallet::random();
    account_with_verified_email(&app, &sink, &owner_wallet, "mine@example.org").await;

    let stranger = TestApp::spawn_in(app.dir.clone(), app.settings_clone()).await;
    let wallet = Wallet::random();
    let resp = stranger
        .verify_with_email(&wallet, "mine@example.org")
        .await;
    assert_ne!(resp.status(), StatusCode::ACCEPTED);
    let resp = attach_challenge(&stranger, &wallet, "mine@example.org").await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), 1, "no link is mailed");
    assert_eq!(wallets_of(&app).await, vec![owner_wallet.address.clone()]);
    stranger.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_a_wallet_to_an_account_with_a_verified_email_sends_a_notice() {
    let (_dir, sink, app) = with_email().await;
    let me =
        account_with_verified_email(&app, &sink, &Wallet::random(), "notice@example.org").await;
    let csrf = me["csrfToken"].as_str().unwrap();
    let second = Wallet::random();
    assert_eq!(app.link(csrf, &second).await.status(), StatusCode::CREATED);
    let notice = decoded(&sink.message(2).await);
    assert!(
        notice.contains("To: notice@example.org") && notice.contains(&second.address),
        "{notice}"
    );
}

/// A signed-in account (in `app`'s client) whose email is verified.
async fn account_with_verified_email(
    app: &TestApp,
    sink: &SmtpSink,
    wallet: &Wallet,
    email: &str,
) -> Value {
    let me = app.sign_in(wallet).await;
    let before = sink.count();
    app.call(
        Method::PUT,
        "/api/account",
        me["csrfToken"].as_str(),
        Some(json!({"email": email})),
    )
    .await;
    let link = link_in(&sink.message(before + 1).await);
    let resp = confirm_link(app, &cookie_client(), &link).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_sign_in_message_never_attaches_a_wallet_by_email() {
    let (_dir, sink, attacker) = with_email_attach().await;
    let attacker_wallet = Wallet::random();
    account_with_verified_email(&attacker, &sink, &attacker_wallet, "attacker@example.org").await;
    let mails = sink.count();

    // The victim signed a sign-in message (unused); the attacker relays it with their email.
    let victim = Wallet::random();
    let message = MessageSpec::new(&victim, &attacker.nonce().await).render();
    let relay = TestApp::spawn_in(attacker.dir.clone(), attacker.settings_clone()).await;
    let resp = verify_message_with_email(&relay, &victim, &message, "attacker@example.org").await;
    assert_ne!(resp.status(), StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), mails, "no link is mailed");
    assert_eq!(
        wallets_of(&attacker).await,
        vec![attacker_wallet.address.clone()]
    );

    // The victim's own attach request, relayed with another email or none, does nothing.
    let challenge: Value = attach_challenge(&relay, &victim, "victim@example.org")
        .await
        .json()
        .await
        .unwrap();
    let message = challenge["message"].as_str().unwrap().to_string();
    let resp = verify_message_with_email(&relay, &victim, &message, "attacker@example.org").await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    let signature = victim.sign(&message);
    let resp = relay.verify(&message, &signature).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), mails);
    assert_eq!(
        wallets_of(&attacker).await,
        vec![attacker_wallet.address.clone()]
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_request_answers_the_same_whether_or_not_an_account_has_the_address() {
    let (_dir, sink, app) = with_email_attach().await;
    account_with_verified_email(&app, &sink, &Wallet::random(), "known@example.org").await;
    let stranger = TestApp::spawn_in(app.dir.clone(), app.settings_clone()).await;
    let mut bodies = Vec::new();
    for email in ["known@example.org", "unknown@example.org"] {
        let resp = request_attach(&stranger, &Wallet::random(), email).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        assert!(resp.headers().get("set-cookie").is_none());
        let body: Value = resp.json().await.unwrap();
        bodies.push(body["message"].as_str().unwrap().replace(email, "EMAIL"));
    }
    assert_eq!(bodies[0], bodies[1]);
    // Only the known address got a link.
    let mail = decoded(&sink.message(2).await);
    assert!(mail.contains("To: known@example.org"), "{mail}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), 2);
    stranger.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_page_shows_what_people_chose_as_text_never_as_markup() {
    let (_dir, sink, app) = with_email().await;
    let me = app.sign_in(&Wallet::random()).await;
    let resp = app
        .call(
            Method::PUT,
            "/api/account",
            me["csrfToken"].as_str(),
            Some(json!({"name": "<script>alert(1)</script>", "email": "o'brien&co@example.org"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let link = link_in(&sink.message(1).await);
    let resp = cookie_client().get(app.url(&link)).send().await.unwrap();
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    let page = resp.text().await.unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("o&#39;brien&amp;co@example.org"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_links_stop_working_when_attaching_by_email_is_switched_off() {
    let (_dir, sink, app) = with_email_attach().await;
    account_with_verified_email(&app, &sink, &Wallet::random(), "off@example.org").await;
    let resp = request_attach(&app, &Wallet::random(), "off@example.org").await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let link = link_in(&sink.message(2).await);
    let browser = cookie_client();
    let (action, fields) = open_link(&app, &browser, &link).await;

    let mut settings = app.settings_clone();
    settings.email.wallet_attach = false;
    let off = TestApp::spawn_in(app.dir.clone(), settings).await;
    let resp = off.get(&link).await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_token").await;
    // A page opened before: its form is refused too.
    let resp = browser
        .post(off.url(&action))
        .header("Origin", URI)
        .form(&fields)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_token").await;
    assert_eq!(wallets_of(&app).await.len(), 1);
    off.stop().await;
}
