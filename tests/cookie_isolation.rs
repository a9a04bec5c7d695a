//! The session cookie stays away from the apps behind forward-auth: docs/proxies.md's nginx `map`
//! strips it before the app (through a real nginx), and the check refuses a request that carries
//! it twice, so the copy a `map` leaves can never reach the app.

mod common;

use std::path::Path;

use common::{nginx::*, *};
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// The proxy guide's block that starts with `first` (inside a list item, so indented), dedented.
fn documented_block(first: &str) -> String {
    let start = PROXY_GUIDE
        .find(first)
        .expect("docs/proxies.md has the block");
    let line_start = PROXY_GUIDE[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = start - line_start;
    let len = PROXY_GUIDE[line_start..].find("```").unwrap();
    PROXY_GUIDE[line_start..line_start + len]
        .lines()
        .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The guide's forward-auth locations, with its line that strips the cookie added to `location /`.
fn protected_locations() -> String {
    let strip = documented_block("proxy_set_header Cookie $cookie_for_app;");
    let strip = strip.trim().split('#').next().unwrap().trim();
    let locations = documented_nginx_locations();
    let proxy_pass = "    proxy_pass http://127.0.0.1:3000;";
    assert!(locations.contains(proxy_pass));
    locations.replacen(proxy_pass, &format!("    {strip}\n{proxy_pass}"), 1)
}

/// nginx with the guide's map in front of an app that echoes the Cookie header it receives.
fn start_nginx(dir: &Path, app_port: u16) -> (Nginx, u16) {
    let map = documented_block("map $http_cookie $cookie_for_app {");
    let nginx = common::nginx::start_nginx(
        dir,
        &NginxConfig {
            app_port,
            locations: &protected_locations(),
            app_reply: "cookie=[$http_cookie] user=$http_x_auth_user_id",
            http: &map,
        },
    );
    let port = nginx.port;
    (nginx, port)
}

/// Signs a wallet in on `app` (whose public URL is `origin`); returns its session token.
async fn session_token(app: &TestApp, origin: &str) -> (String, String) {
    let wallet = Wallet::random();
    let mut spec = MessageSpec::new(&wallet, &app.nonce().await);
    spec.uri = origin.into();
    let resp = app.verify_spec(&wallet, &spec).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    (
        body["token"].as_str().unwrap().to_string(),
        body["user"]["id"].as_str().unwrap().to_string(),
    )
}

async fn through_nginx(origin: &str, name: &str) {
    let app = TestApp::spawn_with(|s| {
        s.server.public_url = origin.into();
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let app_port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let (_nginx, proxy) = start_nginx(dir.path(), app_port);
    let (token, user) = session_token(&app, origin).await;
    let protected = format!("http://127.0.0.1:{proxy}/private/page");
    let get = |cookie: String| {
        let request = Client::new().get(&protected).header("cookie", cookie);
        async move {
            let resp = request.send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let session = format!("{name}={token}");
    for (sent, seen) in [
        (session.clone(), ""),
        (format!("a=1; {session}; b=2"), "a=1; b=2"),
        (format!("{session}; b=2"), "; b=2"),
        (format!("a=1; {session}"), "a=1"),
        (format!("my_{name}=x; {session}"), &format!("my_{name}=x")),
    ] {
        let (status, body) = get(sent.clone()).await;
        assert_eq!(status, StatusCode::OK, "{sent}: {body}");
        assert!(
            body.starts_with(&format!("cookie=[{seen}] user={user}")),
            "{sent}: {body}"
        );
        assert!(!body.contains(&token), "{sent}: {body}");
    }
    // Twice (a second copy planted by another app on the domain): the map would strip only one,
    // so the check refuses and nothing reaches the app.
    for sent in [
        format!("{name}=junk; {session}"),
        format!("{session}; a=1; {session}"),
    ] {
        let (status, body) = get(sent.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{sent}: {body}");
        assert!(!body.contains(&token), "{sent}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_nginx_map_keeps_the_session_cookie_from_the_app() {
    through_nginx("http://localhost:8080", "siwe_session").await;
    // Over https the cookie is __Host- prefixed; the same map strips it.
    through_nginx("https://localhost:8080", "__Host-siwe_session").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_refuses_two_session_cookies() {
    let app = TestApp::spawn().await;
    let (token, _) = session_token(&app, URI).await;
    let check = |cookie: String, bearer: bool| {
        let mut request = Client::new()
            .get(app.url("/api/auth/forward"))
            .header("cookie", cookie);
        if bearer {
            request = request.bearer_auth(&token);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        check(format!("siwe_session={token}"), false).await,
        StatusCode::OK
    );
    for cookie in [
        format!("siwe_session=junk; siwe_session={token}"),
        format!("siwe_session={token}; siwe_session={token}"),
    ] {
        assert_eq!(
            check(cookie.clone(), false).await,
            StatusCode::UNAUTHORIZED,
            "{cookie}"
        );
        assert_eq!(
            check(cookie.clone(), true).await,
            StatusCode::UNAUTHORIZED,
            "{cookie} with a bearer token"
        );
    }
    // Other cookies that merely end in the name are not the session cookie.
    assert_eq!(
        check(format!("my_siwe_session=x; siwe_session={token}"), false).await,
        StatusCode::OK
    );
}
