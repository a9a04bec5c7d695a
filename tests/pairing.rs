//! Sign-in from another device (pairing) through the real router: a desktop and a phone, each
//! its own HTTP client with its own User-Agent and address (forwarded by a trusted proxy on
//! loopback), real keys signing real EIP-4361 messages, a real SQLite file, the server's clock
//! moved for expiry.

mod common;

use common::{expect_error, MessageSpec, TestApp, Wallet};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use siwe_server::Settings;

const DESKTOP_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const DESKTOP_IP: &str = "198.51.100.7";
const PHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
                        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const PHONE_IP: &str = "203.0.113.9";

/// One device: a browser with its own cookies, User-Agent and address.
struct Device {
    client: Client,
    ip: &'static str,
}

impl Device {
    fn new(user_agent: &str, ip: &'static str) -> Self {
        let client = Client::builder()
            .cookie_store(true)
            .user_agent(user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { client, ip }
    }

    fn desktop() -> Self {
        Self::new(DESKTOP_UA, DESKTOP_IP)
    }

    fn phone() -> Self {
        Self::new(PHONE_UA, PHONE_IP)
    }

    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, app.url(path))
            .header("x-forwarded-for", self.ip);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, app: &TestApp, path: &str) -> Response {
        self.call(app, Method::GET, path, None).await
    }

    async fn post(&self, app: &TestApp, path: &str, body: Value) -> Response {
        self.call(app, Method::POST, path, Some(body)).await
    }
}

/// The settings of these tests: loopback is a trusted proxy, so each device has its address.
fn settings(s: &mut Settings) {
    s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
}

async fn spawn() -> TestApp {
    TestApp::spawn_with(settings).await
}

/// A new pairing from `desktop`: its 201 body.
async fn create(app: &TestApp, desktop: &Device) -> Value {
    let resp = desktop.call(app, Method::POST, "/api/pairings", None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

fn id_of(pairing: &Value) -> String {
    pairing["id"].as_str().unwrap().to_string()
}

/// A pairing a desktop has just created, and a phone with a wallet to approve it: (desktop,
/// phone, wallet, the pairing's id, its secret).
async fn start(app: &TestApp) -> (Device, Device, Wallet, String, String) {
    let desktop = Device::desktop();
    let created = create(app, &desktop).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    (
        desktop,
        Device::phone(),
        Wallet::random(),
        id_of(&created),
        secret,
    )
}

/// `phone` asks for the approval challenge of pairing `id` for `wallet`.
async fn ask_challenge(app: &TestApp, phone: &Device, id: &str, wallet: &Wallet) -> Response {
    phone
        .post(
            app,
            &format!("/api/pairings/{id}/challenge"),
            json!({ "address": wallet.address }),
        )
        .await
}

/// The approval challenge of pairing `id` for `wallet`: its message.
async fn challenge(app: &TestApp, phone: &Device, id: &str, wallet: &Wallet) -> String {
    let resp = ask_challenge(app, phone, id, wallet).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["message"].as_str().unwrap().to_string()
}

async fn approve_with(
    app: &TestApp,
    phone: &Device,
    id: &str,
    wallet: &Wallet,
    message: &str,
) -> Response {
    phone
        .post(
            app,
            &format!("/api/pairings/{id}/approve"),
            json!({ "message": message, "signature": wallet.sign(message) }),
        )
        .await
}

/// Challenge, sign and approve pairing `id` with `wallet` from `phone`.
async fn approve(app: &TestApp, phone: &Device, id: &str, wallet: &Wallet) {
    let message = challenge(app, phone, id, wallet).await;
    let resp = approve_with(app, phone, id, wallet, &message).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn decline(app: &TestApp, device: &Device, id: &str) -> Response {
    device
        .call(
            app,
            Method::POST,
            &format!("/api/pairings/{id}/decline"),
            None,
        )
        .await
}

async fn claim(app: &TestApp, desktop: &Device, id: &str, secret: &str) -> Response {
    desktop
        .post(
            app,
            &format!("/api/pairings/{id}/claim"),
            json!({ "secret": secret }),
        )
        .await
}

async fn state_of(app: &TestApp, device: &Device, id: &str) -> String {
    let resp = device.get(app, &format!("/api/pairings/{id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["state"].as_str().unwrap().to_string()
}

async fn count_pairings(app: &TestApp) -> i64 {
    app.service
        .db()
        .read(|conn| conn.query_one("SELECT count(*) FROM pairings", &[], |r| r.get::<i64>(0)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_signs_the_desktop_in_and_the_desktop_gets_its_own_session() {
    let app = spawn().await;
    let (desktop, phone, wallet) = (Device::desktop(), Device::phone(), Wallet::random());

    let created = create(&app, &desktop).await;
    let id = id_of(&created);
    let code = created["code"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert_eq!(secret.len(), 43);
    assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code}");
    assert!(code
        .bytes()
        .all(|b| b == b'-' || b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)));
    assert_eq!(
        created["phoneUrl"],
        format!("http://localhost:8080/pair/{id}")
    );
    assert_eq!(created["qrUrl"], format!("/api/pairings/{id}/qr"));
    assert!(created["expiresAt"].as_str().is_some());

    // The phone sees which device asked, the code and the state.
    let resp = phone.get(&app, &format!("/api/pairings/{id}")).await;
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let view: Value = resp.json().await.unwrap();
    assert_eq!(view["id"], id);
    assert_eq!(view["state"], "pending");
    assert_eq!(view["code"], code);
    assert_eq!(view["device"]["browser"], "Firefox");
    assert_eq!(view["device"]["os"], "Windows");
    assert_eq!(view["device"]["label"], "Firefox on Windows");
    assert_eq!(view["device"]["ip"], DESKTOP_IP);
    assert_eq!(view["sameNetwork"], false);
    assert!(view["createdAt"].as_str().is_some());
    // From the desktop's own network, it is the same one.
    let own: Value = desktop
        .get(&app, &format!("/api/pairings/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["sameNetwork"], true);

    // Its QR code is an SVG image.
    let resp = phone.get(&app, &format!("/api/pairings/{id}/qr")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("image/svg+xml"));
    let svg = resp.text().await.unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

    // The message says it signs in another device, naming it and the code.
    let message = challenge(&app, &phone, &id, &wallet).await;
    let statement = message.lines().nth(3).unwrap();
    assert_eq!(
        statement,
        format!("Sign in on another device (Firefox on Windows), code {code}.")
    );
    assert!(message.contains(&wallet.address));
    let resp = approve_with(&app, &phone, &id, &wallet, &message).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "the phone gets no session"
    );
    let approved: Value = resp.json().await.unwrap();
    assert_eq!(
        approved,
        json!({ "state": "approved", "address": wallet.address })
    );
    let resp = phone.get(&app, "/api/auth/session").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The desktop's polling sees the approval; its secret claims a session.
    assert_eq!(state_of(&app, &desktop, &id).await, "approved");
    let resp = claim(&app, &desktop, &id, secret).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(common::set_cookie(resp.headers()).contains("siwe_session="));
    let signed_in: Value = resp.json().await.unwrap();
    assert_eq!(signed_in["session"]["address"], wallet.address);
    assert_eq!(signed_in["created"], true);
    assert_eq!(
        signed_in["session"]["contractWallet"], false,
        "a key approved"
    );
    assert!(signed_in["csrfToken"].as_str().is_some());
    assert_eq!(signed_in["user"]["wallets"][0]["address"], wallet.address);
    assert_eq!(state_of(&app, &desktop, &id).await, "claimed");

    // The cookie works, and the session is the desktop's: its address and User-Agent.
    let session: Value = desktop
        .get(&app, "/api/auth/session")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["session"]["address"], wallet.address);
    let sessions: Value = desktop
        .get(&app, "/api/auth/sessions")
        .await
        .json()
        .await
        .unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["ip"], DESKTOP_IP);
    assert_eq!(sessions[0]["userAgent"], DESKTOP_UA);
    // So does the bearer token.
    let token = signed_in["token"].as_str().unwrap();
    assert_eq!(
        app.session_with_bearer(token).await.status(),
        StatusCode::OK
    );

    // The account's log has the approval, naming the desktop, with the phone's address.
    let events: Value = desktop
        .get(&app, "/api/account/events")
        .await
        .json()
        .await
        .unwrap();
    let approval = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "pairing_approved")
        .expect("a pairing_approved event");
    assert_eq!(approval["address"], wallet.address);
    assert_eq!(approval["ip"], PHONE_IP);
    assert_eq!(
        approval["detail"],
        format!("Firefox on Windows, {DESKTOP_IP}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_nonces_serve_only_their_pairing_and_sign_in_nonces_no_pairing() {
    let app = spawn().await;
    let (desktop, phone, wallet) = (Device::desktop(), Device::phone(), Wallet::random());
    let first = id_of(&create(&app, &desktop).await);
    let second = id_of(&create(&app, &desktop).await);

    // A pairing's message cannot sign in.
    let message = challenge(&app, &phone, &first, &wallet).await;
    let resp = phone
        .post(
            &app,
            "/api/auth/verify",
            json!({ "message": message, "signature": wallet.sign(&message) }),
        )
        .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    // Nor approve another pairing.
    let resp = approve_with(&app, &phone, &second, &wallet, &message).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    // A sign-in message cannot approve a pairing.
    let sign_in = MessageSpec::new(&wallet, &app.nonce().await).render();
    let resp = approve_with(&app, &phone, &first, &wallet, &sign_in).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    // Another wallet's signature of it approves nothing either.
    let other = Wallet::random();
    let resp = phone
        .post(
            &app,
            &format!("/api/pairings/{first}/approve"),
            json!({ "message": message, "signature": other.sign(&message) }),
        )
        .await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // None of that spent or changed anything: both pairings wait, the message still works.
    assert_eq!(state_of(&app, &phone, &second).await, "pending");
    assert_eq!(state_of(&app, &phone, &first).await, "pending");
    let resp = approve_with(&app, &phone, &first, &wallet, &message).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(state_of(&app, &phone, &second).await, "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_pairing_serves_nothing() {
    let app = spawn().await;
    let (desktop, phone, wallet) = (Device::desktop(), Device::phone(), Wallet::random());
    let created = create(&app, &desktop).await;
    let id = id_of(&created);
    let secret = created["secret"].as_str().unwrap();
    let message = challenge(&app, &phone, &id, &wallet).await;

    let resp = decline(&app, &phone, &id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "state": "declined" }));
    assert_eq!(state_of(&app, &desktop, &id).await, "declined");

    let resp = approve_with(&app, &phone, &id, &wallet, &message).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_declined").await;
    let resp = ask_challenge(&app, &phone, &id, &wallet).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_declined").await;
    let resp = decline(&app, &phone, &id).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_declined").await;
    let resp = phone
        .post(
            &app,
            "/api/pairings/lookup",
            json!({ "code": created["code"] }),
        )
        .await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_declined").await;
    let resp = claim(&app, &desktop, &id, secret).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_declined").await;
    let resp = phone.get(&app, &format!("/api/pairings/{id}/qr")).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_declined").await;
    // The declined approval created no account.
    let signed_in = app.sign_in(&wallet).await;
    assert_eq!(signed_in["created"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_expires_unclaimed() {
    let app = TestApp::spawn_with(|s| {
        settings(s);
        s.pairing.ttl_secs = 60;
    })
    .await;
    let (desktop, phone, wallet) = (Device::desktop(), Device::phone(), Wallet::random());

    // Approved in time, claimed too late.
    let created = create(&app, &desktop).await;
    let id = id_of(&created);
    approve(&app, &phone, &id, &wallet).await;
    app.advance_clock(61);
    assert_eq!(state_of(&app, &desktop, &id).await, "expired");
    let resp = claim(&app, &desktop, &id, created["secret"].as_str().unwrap()).await;
    expect_error(resp, StatusCode::GONE, "pairing_expired").await;

    // Signed in time, sent too late (its nonce lives longer than the pairing).
    let created = create(&app, &desktop).await;
    let id = id_of(&created);
    let message = challenge(&app, &phone, &id, &wallet).await;
    app.advance_clock(61);
    let resp = approve_with(&app, &phone, &id, &wallet, &message).await;
    expect_error(resp, StatusCode::GONE, "pairing_expired").await;
    for (path, body) in [
        (
            format!("/api/pairings/{id}/challenge"),
            Some(json!({ "address": wallet.address })),
        ),
        (format!("/api/pairings/{id}/decline"), None),
        (
            "/api/pairings/lookup".to_string(),
            Some(json!({ "code": created["code"] })),
        ),
    ] {
        let resp = phone.call(&app, Method::POST, &path, body).await;
        expect_error(resp, StatusCode::GONE, "pairing_expired").await;
    }
    let resp = phone.get(&app, &format!("/api/pairings/{id}/qr")).await;
    expect_error(resp, StatusCode::GONE, "pairing_expired").await;

    // An hour after expiry, the upkeep deletes them.
    app.advance_clock(3_600);
    app.service.delete_expired().await.unwrap();
    assert_eq!(count_pairings(&app).await, 0);
    let resp = desktop.get(&app, &format!("/api/pairings/{id}")).await;
    expect_error(resp, StatusCode::NOT_FOUND, "pairing_not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_desktops_secret_claims_and_only_once_approved() {
    let app = spawn().await;
    let (desktop, phone, wallet, id, secret) = start(&app).await;

    let resp = claim(&app, &desktop, &id, &secret).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_not_approved").await;
    // A wrong secret learns nothing of the state.
    let resp = claim(&app, &desktop, &id, "not the secret").await;
    expect_error(resp, StatusCode::FORBIDDEN, "invalid_pairing_secret").await;

    approve(&app, &phone, &id, &wallet).await;
    let other = create(&app, &desktop).await;
    for wrong in [
        "",
        "not the secret",
        other["secret"].as_str().unwrap(),
        &secret[1..],
    ] {
        let resp = claim(&app, &desktop, &id, wrong).await;
        expect_error(resp, StatusCode::FORBIDDEN, "invalid_pairing_secret").await;
    }
    let resp = desktop
        .post(
            &app,
            &format!("/api/pairings/{id}/claim"),
            json!({ "secret": "x".repeat(200) }),
        )
        .await;
    assert!(resp.status().is_client_error());
    assert_eq!(state_of(&app, &desktop, &id).await, "approved");
    assert!(desktop.get(&app, "/api/auth/session").await.status() == StatusCode::UNAUTHORIZED);

    let resp = claim(&app, &desktop, &id, &secret).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_is_approved_once_and_claimed_once() {
    let app = spawn().await;
    let (desktop, phone, wallet, id, secret) = start(&app).await;

    let first = challenge(&app, &phone, &id, &wallet).await;
    let second = challenge(&app, &phone, &id, &wallet).await;
    assert_eq!(
        approve_with(&app, &phone, &id, &wallet, &first)
            .await
            .status(),
        StatusCode::OK
    );
    let resp = approve_with(&app, &phone, &id, &wallet, &second).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_used").await;
    let resp = approve_with(&app, &phone, &id, &wallet, &first).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_used").await;
    let resp = ask_challenge(&app, &phone, &id, &wallet).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_used").await;

    assert_eq!(
        claim(&app, &desktop, &id, &secret).await.status(),
        StatusCode::OK
    );
    let resp = claim(&app, &desktop, &id, &secret).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_used").await;
    let resp = approve_with(&app, &phone, &id, &wallet, &second).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_used").await;
    let resp = decline(&app, &phone, &id).await;
    expect_error(resp, StatusCode::CONFLICT, "pairing_used").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_phones_racing_to_approve_exactly_one_wins() {
    let app = spawn().await;
    let desktop = Device::desktop();
    let phones = [Device::phone(), Device::phone()];
    let wallets = [Wallet::random(), Wallet::random()];
    let created = create(&app, &desktop).await;
    let id = id_of(&created);
    let mut messages = Vec::new();
    for (phone, wallet) in phones.iter().zip(&wallets) {
        messages.push(challenge(&app, phone, &id, wallet).await);
    }
    let (a, b) = tokio::join!(
        approve_with(&app, &phones[0], &id, &wallets[0], &messages[0]),
        approve_with(&app, &phones[1], &id, &wallets[1], &messages[1]),
    );
    let statuses = [a.status(), b.status()];
    let winner = statuses
        .iter()
        .position(|s| *s == StatusCode::OK)
        .expect("one approval wins");
    let loser = 1 - winner;
    let (status, code) = common::error_code(if loser == 0 { a } else { b }).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "pairing_used")
    );

    // The desktop signs in as the winner; the loser's account was never created.
    let resp = claim(&app, &desktop, &id, created["secret"].as_str().unwrap()).await;
    let signed_in: Value = resp.json().await.unwrap();
    assert_eq!(signed_in["session"]["address"], wallets[winner].address);
    assert_eq!(app.sign_in(&wallets[loser]).await["created"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_racing_claims_exactly_one_gets_a_session() {
    let app = spawn().await;
    let (desktop, phone, wallet, id, secret) = start(&app).await;
    approve(&app, &phone, &id, &wallet).await;

    let claims = (0..8).map(|_| claim(&app, &desktop, &id, &secret));
    let answers = futures_util::future::join_all(claims).await;
    let mut tokens = Vec::new();
    for resp in answers {
        if resp.status() == StatusCode::OK {
            let body: Value = resp.json().await.unwrap();
            tokens.push(body["token"].as_str().unwrap().to_string());
        } else {
            let (status, code) = common::error_code(resp).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::CONFLICT, "pairing_used")
            );
        }
    }
    assert_eq!(tokens.len(), 1);
    let sessions: Value = Client::new()
        .get(app.url("/api/auth/sessions"))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_finds_the_pairing_however_it_is_typed() {
    let app = spawn().await;
    let (desktop, phone) = (Device::desktop(), Device::phone());
    let created = create(&app, &desktop).await;
    let id = id_of(&created);
    let code = created["code"].as_str().unwrap();
    let letters = code.replace('-', "");
    for typed in [
        code.to_string(),
        code.to_lowercase(),
        letters.clone(),
        format!(" {} {} ", &letters[..4], &letters[4..]).to_lowercase(),
        letters.chars().map(|c| format!("{c}-")).collect::<String>(),
    ] {
        let resp = phone
            .post(&app, "/api/pairings/lookup", json!({ "code": typed }))
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{typed}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({ "id": id }), "{typed}");
    }
    // A code nobody has, a malformed one, a vowel.
    let unused = if letters == "BBBBBBBB" {
        "CCCCCCCC"
    } else {
        "BBBBBBBB"
    };
    for typed in [unused, "BDFH-JKL", "AAAA-AAAA", ""] {
        let resp = phone
            .post(&app, "/api/pairings/lookup", json!({ "code": typed }))
            .await;
        expect_error(resp, StatusCode::NOT_FOUND, "pairing_not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_pairing_is_not_found_by_any_endpoint() {
    let app = spawn().await;
    let (desktop, wallet) = (Device::desktop(), Wallet::random());
    // A real pairing, so that a table with rows is searched.
    create(&app, &desktop).await;
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    for id in ["AAAAAAAAAAAAAAAAAAAAAA", "not-an-id", "x"] {
        for path in ["", "/qr"] {
            let resp = desktop
                .get(&app, &format!("/api/pairings/{id}{path}"))
                .await;
            expect_error(resp, StatusCode::NOT_FOUND, "pairing_not_found").await;
        }
        for (path, body) in [
            ("challenge", json!({ "address": wallet.address })),
            (
                "approve",
                json!({ "message": message, "signature": wallet.sign(&message) }),
            ),
            ("claim", json!({ "secret": "s" })),
        ] {
            let resp = desktop
                .post(&app, &format!("/api/pairings/{id}/{path}"), body)
                .await;
            expect_error(resp, StatusCode::NOT_FOUND, "pairing_not_found").await;
        }
        let resp = decline(&app, &desktop, id).await;
        expect_error(resp, StatusCode::NOT_FOUND, "pairing_not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looking_at_a_pairing_changes_nothing() {
    let app = spawn().await;
    let (desktop, phone, wallet, id, secret) = start(&app).await;
    let before: Value = phone
        .get(&app, &format!("/api/pairings/{id}"))
        .await
        .json()
        .await
        .unwrap();
    for _ in 0..20 {
        for path in ["", "/qr"] {
            for method in [Method::GET, Method::HEAD] {
                let resp = phone
                    .call(&app, method, &format!("/api/pairings/{id}{path}"), None)
                    .await;
                assert_eq!(resp.status(), StatusCode::OK);
            }
        }
    }
    let after: Value = phone
        .get(&app, &format!("/api/pairings/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(count_pairings(&app).await, 1);

    approve(&app, &phone, &id, &wallet).await;
    for _ in 0..20 {
        assert_eq!(state_of(&app, &desktop, &id).await, "approved");
    }
    let resp = claim(&app, &desktop, &id, &secret).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_pending_creation_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn_with(|s| {
        settings(s);
        s.pairing.max_pending = 2;
        s.pairing.ttl_secs = 60;
    })
    .await;
    let desktop = Device::desktop();
    create(&app, &desktop).await;
    create(&app, &desktop).await;
    let resp = desktop
        .call(&app, Method::POST, "/api/pairings", None)
        .await;
    assert_eq!(resp.headers()["retry-after"], "30");
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "pairing_capacity").await;
    assert_eq!(count_pairings(&app).await, 2);
    // Once those expire, there is room again.
    app.advance_clock(61);
    create(&app, &desktop).await;
    assert_eq!(count_pairings(&app).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_requests_are_rate_limited() {
    let app = TestApp::spawn_with(|s| {
        settings(s);
        s.rate_limit.auth_per_minute = 30;
        s.rate_limit.auth_burst = 2;
        s.rate_limit.read_per_minute = 30;
        s.rate_limit.read_burst = 3;
    })
    .await;
    let desktop = Device::desktop();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = desktop
            .call(&app, Method::POST, "/api/pairings", None)
            .await;
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 429]);
    let resp = desktop
        .post(&app, "/api/pairings/lookup", json!({ "code": "BDFH-JKLM" }))
        .await;
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another client address has its own allowance; reads have theirs.
    let phone = Device::phone();
    let created = create(&app, &phone).await;
    let id = id_of(&created);
    let path = format!("/api/pairings/{id}");
    let statuses: Vec<u16> = futures_util::future::join_all((0..4).map(|_| phone.get(&app, &path)))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_pairing_answers_404_and_the_pages_are_told() {
    let app = spawn().await;
    let config: Value = app.get("/api/config").await.json().await.unwrap();
    assert_eq!(config["pairing"], true);

    let app = TestApp::spawn_with(|s| {
        settings(s);
        s.pairing.enabled = false;
    })
    .await;
    let config: Value = app.get("/api/config").await.json().await.unwrap();
    assert_eq!(config["pairing"], false);
    let desktop = Device::desktop();
    let resp = desktop
        .call(&app, Method::POST, "/api/pairings", None)
        .await;
    expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(count_pairings(&app).await, 0);
    let id = "AAAAAAAAAAAAAAAAAAAAAA";
    for path in [
        format!("/api/pairings/{id}"),
        format!("/api/pairings/{id}/qr"),
    ] {
        let resp = desktop.get(&app, &path).await;
        expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
    for (path, body) in [
        (
            "/api/pairings/lookup".to_string(),
            Some(json!({ "code": "BDFH-JKLM" })),
        ),
        (
            format!("/api/pairings/{id}/challenge"),
            Some(json!({ "address": Wallet::random().address })),
        ),
        (
            format!("/api/pairings/{id}/approve"),
            Some(json!({ "message": "m", "signature": "0x00" })),
        ),
        (format!("/api/pairings/{id}/decline"), None),
        (
            format!("/api/pairings/{id}/claim"),
            Some(json!({ "secret": "s" })),
        ),
    ] {
        let resp = desktop.call(&app, Method::POST, &path, body).await;
        expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    }
}

/// `siwe_pairings_total{step, result}` of the server's /metrics (0 when absent).
async fn pairing_count(app: &TestApp, step: &str, result: &str) -> f64 {
    let text = Client::new()
        .get(app.url("/metrics"))
        .bearer_auth("pairing-metrics-token-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("siwe_pairings_total{{result=\"{result}\",step=\"{step}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Each step is counted by result, so an operator sees pairings used, declined and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_is_counted_in_the_metrics() {
    let app = TestApp::spawn_with(|s| {
        settings(s);
        s.metrics.token = Some("pairing-metrics-token-0123456789".to_string().into());
    })
    .await;
    let steps = [
        ("create", "ok"),
        ("approve", "ok"),
        ("claim", "ok"),
        ("claim", "pairing_used"),
        ("decline", "ok"),
    ];
    let mut before = Vec::new();
    for (step, result) in steps {
        before.push(pairing_count(&app, step, result).await);
    }
    let (desktop, phone, wallet, id, secret) = start(&app).await;
    approve(&app, &phone, &id, &wallet).await;
    assert_eq!(
        claim(&app, &desktop, &id, &secret).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        claim(&app, &desktop, &id, &secret).await.status(),
        StatusCode::CONFLICT
    );
    let (_, phone, _, other, _) = start(&app).await;
    assert_eq!(decline(&app, &phone, &other).await.status(), StatusCode::OK);
    for ((step, result), was) in steps.into_iter().zip(before) {
        let now = pairing_count(&app, step, result).await;
        assert!(now >= was + 1.0, "{step} {result}: {was} -> {now}");
    }
}
