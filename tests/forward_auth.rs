//! Forward-auth: the endpoint as Caddy and Traefik call it, and a real nginx (`auth_request`)
//! in front of a protected location, all on loopback ports.

mod common;

use std::path::Path;

use common::{nginx::*, *};
use reqwest::{Client, Method, StatusCode};

async fn forward(app: &TestApp, client: &Client, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client.get(app.url("/api/auth/forward"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_requests_get_identity_headers() {
    let app = TestApp::spawn().await;
    let (w1, w2) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&w1).await;
    app.link(me["csrfToken"].as_str().unwrap(), &w2).await;

    let resp = forward(&app, &app.client, &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["x-auth-user-id"], me["user"]["id"].as_str().unwrap());
    assert_eq!(h["x-auth-address"], w1.address.as_str());
    let wallets = h["x-auth-wallets"].to_str().unwrap();
    assert!(
        wallets.split(',').any(|w| w == w1.address) && wallets.split(',').any(|w| w == w2.address),
        "{wallets}"
    );

    // HEAD answers the same, and bearer tokens count.
    let head = app
        .client
        .head(app.url("/api/auth/forward"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("x-auth-user-id"));
    let bearer = Client::new()
        .get(app.url("/api/auth/forward"))
        .bearer_auth(me["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.headers()["x-auth-address"], w1.address.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_browsers_are_sent_to_login_with_a_safe_next() {
    let app = TestApp::spawn_with(|s| {
        s.forward_auth.origins = vec!["https://app.example.org".into()];
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let traefik = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.org"),
        ("x-forwarded-uri", "/reports?q=1"),
        ("accept", "text/html,application/xhtml+xml"),
    ];
    let resp = forward(&app, &client, &traefik).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(
        resp.headers()["location"],
        "http://localhost:8080/login?next=https%3A%2F%2Fapp.example.org%2Freports%3Fq%3D1"
    );
    // Not a browser: 401.
    let resp = forward(&app, &client, &traefik[..3]).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // An origin nobody configured gets no next=.
    let resp = forward(
        &app,
        &client,
        &[
            ("x-original-url", "https://evil.example/x"),
            ("accept", "text/html"),
        ],
    )
    .await;
    assert_eq!(resp.headers()["location"], "http://localhost:8080/login");
    // redirect=false (nginx) answers 401 and says where to go.
    let resp = client
        .get(app.url("/api/auth/forward?redirect=false"))
        .header("x-original-url", "https://app.example.org/")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["x-auth-login-url"],
        "http://localhost:8080/login?next=https%3A%2F%2Fapp.example.org%2F"
    );
    // A stale cookie is the same as none.
    let resp = client
        .get(app.url("/api/auth/forward"))
        .header("cookie", format!("siwe_session={}", "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_rules_admit_listed_wallets_only() {
    let allowed = Wallet::random();
    let address = allowed.address.to_lowercase();
    let app = TestApp::spawn_with(move |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.forward_auth.rules = vec![siwe_server::config::ForwardAuthRule {
            host: "admin.example.org".into(),
            addresses: vec![address],
        }]
    })
    .await;
    let other = TestApp::spawn_in(app.dir.clone(), app.settings_clone()).await;
    app.sign_in(&allowed).await;
    other.sign_in(&Wallet::random()).await;
    let admin = [("x-forwarded-host", "admin.example.org")];
    assert_eq!(
        forward(&app, &app.client, &admin).await.status(),
        StatusCode::OK
    );
    expect_error(
        forward(&other, &other.client, &admin).await,
        StatusCode::FORBIDDEN,
        "access_denied",
    )
    .await;
    let open = [("x-forwarded-host", "wiki.example.org")];
    assert_eq!(
        forward(&other, &other.client, &open).await.status(),
        StatusCode::OK
    );
    other.stop().await;
}

/// A client talking to the server directly (not through the trusted proxy) cannot name the site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_of_untrusted_peers_are_ignored() {
    let listed = Wallet::random();
    let address = listed.address.to_lowercase();
    let app = TestApp::spawn_with(move |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.forward_auth.origins = vec!["https://wiki.example.org".into()];
        s.forward_auth.rules = vec![siwe_server::config::ForwardAuthRule {
            host: "admin.example.org".into(),
            addresses: vec![address],
        }]
    })
    .await;
    let listed_token = app.sign_in(&listed).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let other_token = app.sign_in(&Wallet::random()).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    // Not the trusted proxy: another loopback address.
    let stranger = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ask = |token: &str, headers: &[(&'static str, &'static str)]| {
        let mut req = stranger
            .get(app.url("/api/auth/forward"))
            .header("accept", "text/html");
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let open = [("x-forwarded-host", "wiki.example.org")];
    let admin = [("x-original-url", "https://admin.example.org/")];
    // The host cannot be known, so with rules even a listed wallet is refused...
    for headers in [&open[..], &admin, &[]] {
        for token in [&listed_token, &other_token] {
            expect_error(
                ask(token, headers).await.unwrap(),
                StatusCode::FORBIDDEN,
                "access_denied",
            )
            .await;
        }
    }
    // ...and a signed-out browser is not sent anywhere the stranger named.
    let resp = ask("", &open).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!resp.headers().contains_key("location"));
    // The same headers from the trusted proxy's address are believed.
    let proxy = |token: &str, headers: &[(&'static str, &'static str)]| {
        let mut req = Client::new()
            .get(app.url("/api/auth/forward"))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    assert_eq!(
        proxy(&other_token, &open).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        proxy(&listed_token, &admin).await.unwrap().status(),
        StatusCode::OK
    );
    expect_error(
        proxy(&other_token, &admin).await.unwrap(),
        StatusCode::FORBIDDEN,
        "access_denied",
    )
    .await;
    // Two hosts in one header: nobody can say which was asked for.
    expect_error(
        proxy(
            &listed_token,
            &[("x-forwarded-host", "admin.example.org, wiki.example.org")],
        )
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
        "access_denied",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_is_not_rate_limited() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.read_per_minute = 60;
        s.rate_limit.read_burst = 1;
    })
    .await;
    for _ in 0..20 {
        assert_eq!(
            forward(&app, &app.client, &[]).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

/// The locations the README documented before the protected host was normalised and
/// X-Forwarded-* were cleared: configurations people already run.
const EARLIER_NGINX_LOCATIONS: &str = r#"
location = /_siwe_auth {
    internal;
    proxy_pass http://127.0.0.1:8080/api/auth/forward?redirect=false;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
}

location / {
    auth_request /_siwe_auth;
    auth_request_set $auth_user $upstream_http_x_auth_user_id;
    auth_request_set $auth_address $upstream_http_x_auth_address;
    auth_request_set $auth_wallets $upstream_http_x_auth_wallets;
    auth_request_set $auth_login $upstream_http_x_auth_login_url;
    proxy_set_header X-Auth-User-Id $auth_user;
    proxy_set_header X-Auth-Address $auth_address;
    proxy_set_header X-Auth-Wallets $auth_wallets;
    proxy_pass http://127.0.0.1:3000;      # the protected app
    error_page 401 = @login;
}

location @login {
    if ($auth_login) { return 302 $auth_login; }
    return 401;
}
"#;

/// nginx serving `locations` in front of an app that echoes the identity headers.
fn start_nginx(dir: &Path, app_port: u16, locations: &str) -> (Nginx, u16) {
    let nginx = common::nginx::start_nginx(
        dir,
        &NginxConfig {
            app_port,
            locations,
            app_reply: "user=$http_x_auth_user_id address=$http_x_auth_address wallets=$http_x_auth_wallets",
            http: "",
        },
    );
    let port = nginx.port;
    (nginx, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_protects_a_location() {
    nginx_protects_a_location(&documented_nginx_locations()).await;
    nginx_protects_a_location(EARLIER_NGINX_LOCATIONS).await;
}

async fn nginx_protects_a_location(locations: &str) {
    let app = TestApp::spawn_with(|s| {
        // The protected site is nginx on 127.0.0.1; its origin may be returned to.
        s.forward_auth.origins = vec!["http://127.0.0.1".into()];
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let app_port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let (_nginx, proxy) = start_nginx(dir.path(), app_port, locations);
    let protected = format!("http://127.0.0.1:{proxy}/private/page?x=1");
    let browser = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Signed out: API clients are refused, browsers redirected to the login page.
    let resp = browser.get(&protected).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = browser
        .get(&protected)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://localhost:8080/login"),
        "{location}"
    );

    // Signed in (the cookie is for 127.0.0.1, which nginx shares): served, with identity.
    let wallet = Wallet::random();
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    let resp = browser
        .post(app.url("/api/auth/verify"))
        .json(&serde_json::json!({"message": message, "signature": wallet.sign(&message)}))
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = resp.json().await.unwrap();
    let resp = browser
        .get(&protected)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(&format!("user={}", me["user"]["id"].as_str().unwrap())),
        "{text}"
    );
    assert!(
        text.contains(&format!("address={}", wallet.address)),
        "{text}"
    );

    // Signed out again: refused again.
    let resp = browser
        .request(Method::POST, app.url("/api/auth/logout"))
        .header("x-csrf-token", me["csrfToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        browser.get(&protected).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_decides_on_the_host_it_saw() {
    nginx_decides_on_the_host(&documented_nginx_locations()).await;
    nginx_decides_on_the_host(EARLIER_NGINX_LOCATIONS).await;
}

/// A raw HTTP/1.0 request without Host; the status code of the answer.
async fn status_without_host(port: u16, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("GET /private/page HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.split(' ').nth(1).unwrap_or_default();
    status
        .parse()
        .unwrap_or_else(|_| panic!("no status in {answer}"))
}

async fn nginx_decides_on_the_host(locations: &str) {
    let listed = Wallet::random();
    let address = listed.address.to_lowercase();
    let app = TestApp::spawn_with(move |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.forward_auth.rules = vec![siwe_server::config::ForwardAuthRule {
            host: "admin.example.org".into(),
            addresses: vec![address],
        }]
    })
    .await;
    let app_port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let (_nginx, proxy) = start_nginx(dir.path(), app_port, locations);
    let token = |me: serde_json::Value| me["token"].as_str().unwrap().to_string();
    let listed_token = token(app.sign_in(&listed).await);
    let other_token = token(app.sign_in(&Wallet::random()).await);
    let client = Client::new();
    let get = |token: &str, host: &str, extra: Option<(&str, &str)>| {
        let mut req = client
            .get(format!("http://127.0.0.1:{proxy}/private/page"))
            .bearer_auth(token)
            .header("host", host);
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        req.send()
    };
    let spellings: [(&str, Option<(&str, &str)>); 6] = [
        ("admin.example.org", None),
        (
            "admin.example.org",
            Some(("x-forwarded-host", "open.example")),
        ),
        (
            "admin.example.org",
            Some(("x-original-url", "http://open.example/")),
        ),
        ("admin.example.org.", None),
        ("ADMIN.Example.ORG", None),
        ("admin.example.org:80", None),
    ];
    for (host, extra) in spellings {
        let status = get(&other_token, host, extra).await.unwrap().status();
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "unlisted wallet, {host} {extra:?}"
        );
        let resp = get(&listed_token, host, extra).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "listed wallet, {host} {extra:?}"
        );
        assert!(resp.text().await.unwrap().contains(&listed.address));
    }
    // A host without rules is open to every signed-in wallet.
    let open = get(&other_token, "wiki.example.org", None).await.unwrap();
    assert_eq!(open.status(), StatusCode::OK);
    // Without Host nobody can say which site was asked for: refused to everyone.
    assert_eq!(status_without_host(proxy, &other_token).await, 403);
    assert_eq!(status_without_host(proxy, &listed_token).await, 403);
}
