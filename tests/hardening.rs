//! Abuse and mistakes: rate limits, client addresses behind proxies, CORS, origin and CSRF
//! checks, security headers, hostile input.

mod common;

use std::{
    io::{Read, Write},
    net::{IpAddr, TcpStream},
    time::Duration,
};

use base64::Engine;
use common::*;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

/// A client whose connections come from another loopback address.
fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_gets_429_with_retry_after_while_another_ip_is_fine() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.auth_per_minute = 30;
        s.rate_limit.auth_burst = 3;
    })
    .await;
    let a = client_from("127.0.0.1");
    let nonce = app.url("/api/auth/nonce");
    for _ in 0..3 {
        assert_eq!(a.get(&nonce).send().await.unwrap().status(), StatusCode::OK);
    }
    let resp = a.get(&nonce).send().await.unwrap();
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "one cell every 2 s: {retry}");
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // verify shares the auth policy
    let resp = a
        .post(app.url("/api/auth/verify"))
        .json(&json!({"message": "x", "signature": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);

    let b = client_from("127.0.0.2");
    assert_eq!(b.get(&nonce).send().await.unwrap().status(), StatusCode::OK);
    // Reads have their own policy (off here), and health checks are never limited.
    assert_eq!(
        a.get(app.url("/api/auth/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.get(app.url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_policy_limits_session_checks() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit.read_per_minute = 60;
        s.rate_limit.read_burst = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.get("/api/auth/session").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.get("/api/auth/session").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.get("/api/auth/nonce").await.status(),
        StatusCode::OK,
        "auth policy is off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let limits = |s: &mut siwe_server::Settings| {
        s.rate_limit.auth_per_minute = 30;
        s.rate_limit.auth_burst = 2;
    };
    // Not trusted: a client cannot pick a fresh key per request.
    let app = TestApp::spawn_with(limits).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let resp = app
            .client
            .get(app.url("/api/auth/nonce"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .header("forwarded", format!("for=203.0.113.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);

    // Trusted: each forwarded client has its own key, and sessions record the client.
    let app = TestApp::spawn_with(|s| {
        limits(s);
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let get = |xff: &'static str| {
        app.client
            .get(app.url("/api/auth/nonce"))
            .header("x-forwarded-for", xff)
            .send()
    };
    for xff in ["198.51.100.1", "198.51.100.2", "6.6.6.6, 198.51.100.3"] {
        assert_eq!(get(xff).await.unwrap().status(), StatusCode::OK);
        assert_eq!(get(xff).await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(
        get("198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        get("7.7.7.7, 198.51.100.3").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // IPv6 clients share a /64.
    assert_eq!(
        get("2001:db8:1:1::1").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        get("2001:db8:1:1::2").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        get("2001:db8:1:1::3").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let wallet = Wallet::random();
    let nonce: Value = app
        .client
        .get(app.url("/api/auth/nonce"))
        .header("x-forwarded-for", "192.0.2.44")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = MessageSpec::new(&wallet, nonce["nonce"].as_str().unwrap()).render();
    let resp = app
        .client
        .post(app.url("/api/auth/verify"))
        .header("x-forwarded-for", "192.0.2.44")
        .json(&json!({"message": message, "signature": wallet.sign(&message)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ip: String = app.sql_value("SELECT ip FROM sessions");
    assert_eq!(ip, "192.0.2.44");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_allowed_origins_only() {
    let app =
        TestApp::spawn_with(|s| s.cors.allowed_origins = vec!["https://app.example".into()]).await;
    let client = Client::new();
    let resp = client
        .get(app.url("/api/auth/nonce"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().contains("Origin")));

    for origin in ["https://evil.example", "null", "https://app.example.evil"] {
        let resp = client
            .get(app.url("/api/auth/nonce"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "no CORS is not an error");
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert!(resp
            .headers()
            .get("access-control-allow-credentials")
            .is_none());
    }

    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, app.url("/api/auth/logout"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "x-csrf-token, content-type",
            )
            .send()
    };
    let resp = preflight("https://app.example").await.unwrap();
    assert!(resp.status().is_success());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("X-CSRF-Token"));
    let resp = preflight("https://evil.example").await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    assert!(resp.headers().get("access-control-allow-methods").is_none());

    // Never a wildcard with credentials.
    let resp = client.get(app.url("/api/auth/nonce")).send().await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_requests_from_foreign_origins_are_refused() {
    let app =
        TestApp::spawn_with(|s| s.cors.allowed_origins = vec!["https://app.example".into()]).await;
    let body = app.sign_in(&Wallet::random()).await;
    let csrf = body["csrfToken"].as_str().unwrap();
    let logout = |origin: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/api/auth/logout"))
            .header("x-csrf-token", csrf);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    for origin in ["https://evil.example", "null", "http://localhost:8081"] {
        let (status, code) = error_code(logout(Some(origin)).await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "origin_not_allowed"),
            "{origin}"
        );
    }
    assert_eq!(
        app.get("/api/auth/session").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    assert_eq!(
        logout(Some("https://app.example")).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    let body = app.sign_in(&Wallet::random()).await;
    let resp = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("origin", "http://localhost:8080")
        .header("x-csrf-token", body["csrfToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "our own origin");

    // Bearer clients are not browsers riding a cookie: no Origin rule, no CSRF.
    let body = app.sign_in(&Wallet::random()).await;
    let resp = Client::new()
        .post(app.url("/api/auth/logout"))
        .header("origin", "https://evil.example")
        .bearer_auth(body["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_api_and_html() {
    let app = TestApp::spawn().await;
    let api = app.get("/api/auth/nonce").await;
    let h = api.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cross-origin-opener-policy"], "same-origin-allow-popups");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h.get("strict-transport-security").is_none(),
        "http deployment: no HSTS"
    );
    let first_id = h["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(
        app.get("/api/auth/nonce").await.headers()["x-request-id"],
        first_id.as_str()
    );
    // Errors carry them too.
    let err = app.get("/api/auth/session").await;
    assert_eq!(err.headers()["x-content-type-options"], "nosniff");
    assert!(err.headers().contains_key("x-request-id"));

    let page = app.get("/").await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    // Swagger UI's inline scripts are allowed by hash, and only they are.
    let docs = app.get("/docs").await;
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = docs.text().await.unwrap();
    let mut rest = html.as_str();
    let mut scripts = 0;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let open_end = after.find('>').unwrap();
        let body = &after[open_end + 1..];
        let close = body.find("</script>").unwrap();
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(&body.as_bytes()[..close]));
        assert!(
            csp.contains(&format!("'sha256-{hash}'")),
            "script {scripts} allowed by hash"
        );
        scripts += 1;
        rest = &body[close..];
    }
    assert!(scripts >= 2);
    assert!(
        !csp.contains("'unsafe-inline'")
            || !csp
                .split(';')
                .any(|d| d.trim().starts_with("script-src") && d.contains("unsafe-inline"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_deployments_get_hsts_and_csp_switches_apply() {
    let app = TestApp::spawn_with(|s| {
        s.server.public_url = "https://login.example.org".into();
        s.security.csp_frame_src = vec!["https://verify.walletconnect.com".into()];
        s.security.csp_connect_src = vec!["wss://relay.walletconnect.com".into()];
        s.security.csp_frame_ancestors = vec!["https://app.example.org".into()];
    })
    .await;
    let page = app.get("/").await;
    let h = page.headers();
    assert!(h["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-src https://verify.walletconnect.com"),
        "{csp}"
    );
    assert!(
        csp.contains("connect-src 'self' wss://relay.walletconnect.com"),
        "{csp}"
    );
    assert!(
        csp.contains("frame-ancestors https://app.example.org"),
        "{csp}"
    );
    assert!(
        h.get("x-frame-options").is_none(),
        "framing was allowed on purpose"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_follows_https_from_trusted_proxies() {
    let app = TestApp::spawn_with(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let url = app.url("/healthz");
    for (from, hsts) in [("127.0.0.1", true), ("127.0.0.2", false)] {
        let resp = client_from(from)
            .get(&url)
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers().contains_key("strict-transport-security"),
            hsts,
            "{from}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_from_clients_are_not_trusted_but_proxies_are() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "my-id")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "my-id");
    let app = TestApp::spawn_with(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "proxy-id-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "proxy-id-1");
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id\u{7f}")
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_ne!(resp.headers()["x-request-id"], "bad id\u{7f}");
    }
}

/// Raw bytes to the server; returns the status line's code (0 if the server closed silently).
fn raw_request(base: &str, bytes: &[u8]) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_clear_4xx_never_5xx() {
    let app = TestApp::spawn().await;
    let wallet = Wallet::random();
    let good = MessageSpec::new(&wallet, &app.nonce().await).render();
    let verify_raw = |body: Vec<u8>| {
        app.client
            .post(app.url("/api/auth/verify"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Invalid UTF-8 and NUL bytes.
    let (status, code) = error_code(
        verify_raw(b"{\"message\": \"\xff\xfe\", \"signature\": \"0x\"}".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    for message in [
        good.replace("Sign in to the test.", "Sign in\u{0} to the test."),
        format!("\u{0}{good}"),
        "\n".repeat(10_000),
        format!("{good}{}", "\n- https://x.org".repeat(900)),
        good.replace("\n", "\r\n")
            .replace("URI:", "Set-Cookie: x=y\r\nURI:"),
        good.replace("Nonce: ", "Nonce: \u{202e}"),
        "é".repeat(3000),
    ] {
        let resp = app.verify(&message, &wallet.sign(&message)).await;
        let (status, _) = error_code(resp).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
            "{status}"
        );
    }
    let (status, _) = error_code(
        verify_raw(b"{\"message\": \"a\\u0000b\", \"signature\": \"0x00\"}".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = error_code(verify_raw(vec![b'['; 15_000]).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "deep nesting");

    // Hostile headers.
    let resp = app
        .client
        .get(app.url("/api/auth/session"))
        .header("cookie", "siwe_session=\u{1}\u{2}; x")
        .send()
        .await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = app
        .client
        .get(app.url("/api/auth/session"))
        .header("x-big", "a".repeat(200_000))
        .send()
        .await;
    if let Ok(resp) = resp {
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    let resp = app
        .client
        .get(app.url("/api/auth/session"))
        .header("authorization", "Bearer ".to_string() + &"a".repeat(8000))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = app
        .get(&format!("/api/auth/nonce?{}", "a=b&".repeat(2000)))
        .await;
    assert!(resp.status().is_success() || resp.status().is_client_error());
    for path in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/..%2fsrc%2fmain.rs",
    ] {
        let status = app.get(path).await.status();
        assert!(status.is_client_error(), "{path}: {status}");
    }

    // Raw HTTP: CRLF tricks, lying lengths, garbage.
    let base = app.base.clone();
    let codes = tokio::task::spawn_blocking(move || {
        [
            raw_request(&base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
            raw_request(&base, b"POST /api/auth/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\n12345"),
            raw_request(&base, b"POST /api/auth/verify HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            raw_request(&base, b"\x00\x01\x02 garbage\r\n\r\n"),
            raw_request(&base, b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ]
    })
    .await
    .unwrap();
    for code in codes {
        assert!(
            code == 0 || (400..500).contains(&code) || code == 200,
            "{codes:?}"
        );
    }
    // The server is still fine.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        app.verify(&good, &wallet.sign(&good)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_bodies_time_out() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    let code = tokio::task::spawn_blocking(move || {
        raw_request(
            &base,
            b"POST /api/auth/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mess",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 408);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

/// Sends one keep-alive request on a raw connection and returns what came back within `wait`.
async fn keep_alive_request(stream: &mut tokio::net::TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = TestApp::spawn_with(|s| {
        s.server.max_connections = 2;
        s.server.max_connections_per_ip = Some(2);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for stream in [&mut first, &mut second] {
        let answer = keep_alive_request(stream, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Both connections stay open (keep-alive): a third client is not taken on...
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert_eq!(
        keep_alive_request(&mut third, Duration::from_millis(300)).await,
        None
    );
    // ...until one of them closes; then it is served.
    drop(first);
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        third.read(&mut buf).await.unwrap()
    })
    .await
    .expect("the waiting connection is served once another closes");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

/// Nobody fills another person's security log, or the database, without a signature: forged
/// sign-ins for somebody's address, replays of their used or expired messages, and nonces this
/// server never issued write no event and spend no nonce. Only a message its address signed,
/// on a nonce this request spends, is recorded, and only in its owner's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_write_nothing_without_the_owners_signature() {
    let app = TestApp::spawn_with(|s| s.siwe.nonce_ttl_secs = 300).await;
    let count = |table: &str| app.sql_value::<i64>(&format!("SELECT count(*) FROM {table}"));
    let stranger = Client::new();
    let verify = |message: &str, signature: &str| {
        stranger
            .post(app.url("/api/auth/verify"))
            .json(&json!({ "message": message, "signature": signature }))
            .send()
    };
    let victim = Wallet::random();
    let used = MessageSpec::new(&victim, &app.nonce().await).render();
    let resp = app.verify(&used, &victim.sign(&used)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let unused = MessageSpec::new(&victim, &app.nonce().await).render();

    // Forged: the victim's address, another key; once with a wrong domain too.
    let forger = Wallet::random();
    for _ in 0..3 {
        let message = MessageSpec::new(&victim, &app.nonce().await).render();
        let resp = verify(&message, &forger.sign(&message)).await.unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    }
    let mut elsewhere = MessageSpec::new(&victim, &app.nonce().await);
    elsewhere.domain = "evil.example".into();
    let message = elsewhere.render();
    let resp = verify(&message, &forger.sign(&message)).await.unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "domain_mismatch").await;
    // Replays of the victim's used message.
    for _ in 0..2 {
        let resp = verify(&used, &victim.sign(&used)).await.unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    }
    // A nonce with a tag this server did not make, signed by the victim's own key.
    let mut forged = app.nonce().await;
    let last = if forged.ends_with('a') { 'b' } else { 'a' };
    forged.pop();
    forged.push(last);
    let message = MessageSpec::new(&victim, &forged).render();
    let resp = verify(&message, &victim.sign(&message)).await.unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;
    assert_eq!(
        (count("spent_nonces"), count("security_events")),
        (1, 1),
        "only the victim's sign-in wrote anything"
    );

    // A signed message the policy refuses: recorded once, in its owner's log only; a wallet
    // without an account leaves no event at all.
    let mut refused = MessageSpec::new(&victim, &app.nonce().await);
    refused.domain = "evil.example".into();
    let refused = refused.render();
    let anonymous = Wallet::random();
    let mut theirs = MessageSpec::new(&anonymous, &app.nonce().await);
    theirs.domain = "evil.example".into();
    let theirs = theirs.render();
    for _ in 0..2 {
        verify(&refused, &victim.sign(&refused)).await.unwrap();
        verify(&theirs, &anonymous.sign(&theirs)).await.unwrap();
    }
    // The victim's unused message, once its nonce has expired.
    app.advance_clock(301);
    let resp = verify(&unused, &victim.sign(&unused)).await.unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_nonce").await;

    let events: Value = app.get("/api/account/events").await.json().await.unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sign_in_failed", "sign_in"], "{events}");
    assert_eq!(events[0]["detail"], "domain_mismatch");
    assert_eq!(count("security_events"), 2, "no event without an owner");
    assert_eq!(count("spent_nonces"), 3);
}

/// A read that cannot get a database connection (the pool is exhausted) gives up after a
/// quarter of a second with 503 `overloaded` and `Retry-After`, instead of holding an async
/// worker for the pool's ten seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_read_pool_answers_503_overloaded_quickly() {
    let dir = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let mut settings = test_settings(&dir);
    settings.database.pool_size = 1;
    let app = siwe_server::Application::build(settings).await.unwrap();
    let db = app.service().db().clone();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = Client::new();
    let nonce: Value = client
        .get(format!("{base}/api/auth/nonce"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wallet = Wallet::random();
    let message = MessageSpec::new(&wallet, nonce["nonce"].as_str().unwrap()).render();
    let signed_in: Value = client
        .post(format!("{base}/api/auth/verify"))
        .json(&json!({ "message": message, "signature": wallet.sign(&message) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_in["token"].as_str().unwrap().to_string();
    let session = || {
        client
            .get(format!("{base}/api/auth/session"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(session().await.unwrap().status(), StatusCode::OK);

    // Something holds the only reader (a long read).
    let (held, holding) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        db.read(|_| {
            held.send(()).unwrap();
            let _ = released.recv();
            Ok(())
        })
    });
    holding.recv().unwrap();
    let started = std::time::Instant::now();
    let resp = session().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.headers()["retry-after"], "1");
    expect_error(resp, StatusCode::SERVICE_UNAVAILABLE, "overloaded").await;
    assert!(waited < Duration::from_secs(2), "answered in {waited:?}");

    release.send(()).unwrap();
    reader.join().unwrap().unwrap();
    assert_eq!(session().await.unwrap().status(), StatusCode::OK);
    let _ = stop.send(());
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_and_booleans_are_not_taken_for_strings() {
    let app = TestApp::spawn().await;
    let me = app.sign_in(&Wallet::random()).await;
    let csrf = me["csrfToken"].as_str();
    // poem-openapi's own String would store the name "false".
    let resp = app
        .call(
            reqwest::Method::PUT,
            "/api/account",
            csrf,
            Some(json!({"name": false})),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    let account: Value = app.get("/api/account").await.json().await.unwrap();
    assert_ne!(account["name"], "false");
    for (path, body) in [
        ("/api/auth/challenge", json!({"address": 123})),
        ("/api/auth/verify", json!({"message": 1, "signature": true})),
        ("/api/auth/token", json!({"audience": 7})),
    ] {
        let resp = app
            .call(reqwest::Method::POST, path, csrf, Some(body))
            .await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}
