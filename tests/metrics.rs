//! Prometheus metrics over HTTP.

mod common;

use common::*;
use reqwest::StatusCode;

const TOKEN: &str = "metrics-token-for-tests";

/// The gauges are one set per process: tests that read them take turns.
static GAUGES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn scrape(app: &TestApp) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

fn with_token(s: &mut siwe_server::Settings) {
    s.metrics.token = Some(TOKEN.to_string().into());
}

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_sign_ins_limits_and_sessions() {
    let _turn = GAUGES.lock().await;
    let app = TestApp::spawn_with(|s| {
        with_token(s);
        s.rate_limit.auth_per_minute = 30;
        s.rate_limit.auth_burst = 6;
    })
    .await;
    let wallet = Wallet::random();
    app.sign_in(&wallet).await;
    let message = MessageSpec::new(&wallet, &app.nonce().await).render();
    app.verify(&message, &Wallet::random().sign(&message)).await;
    for _ in 0..4 {
        app.get("/api/auth/nonce").await;
    }

    let resp = scrape(&app).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let at_least = |prefix: &str, n: f64| {
        let v = sample(&text, prefix).unwrap_or_else(|| panic!("{prefix} missing in\n{text}"));
        assert!(v >= n, "{prefix} = {v} < {n}");
    };
    at_least(
        r#"siwe_http_requests_total{method="GET",route="/api/auth/nonce",status="200"}"#,
        2.0,
    );
    at_least(
        r#"siwe_http_requests_total{method="POST",route="/api/auth/verify",status="401"}"#,
        1.0,
    );
    at_least(r#"siwe_sign_ins_total{result="ok"}"#, 1.0);
    at_least(r#"siwe_sign_ins_total{result="invalid_signature"}"#, 1.0);
    at_least(r#"siwe_rate_limited_total{policy="auth"}"#, 1.0);
    at_least("siwe_sqlite_seconds_count", 3.0);
    assert_eq!(sample(&text, "siwe_active_sessions"), Some(1.0));
    assert!(sample(&text, "siwe_nonces").is_some());
    let build_info = format!(
        "siwe_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &build_info), Some(1.0), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_move_to_their_own_address() {
    let _turn = GAUGES.lock().await;
    let app = TestApp::spawn_with(|s| s.metrics.bind = Some("127.0.0.1:0".into())).await;
    expect_error(
        app.get("/metrics").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let base = app.metrics_base.clone().expect("a metrics listener");
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("siwe_active_sessions"), "{text}");
    let off = TestApp::spawn_with(|s| {
        with_token(s);
        s.metrics.enabled = false;
    })
    .await;
    assert_eq!(scrape(&off).await.status(), StatusCode::NOT_FOUND);
}

/// Off the public listener by default; there only with the bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_their_own_listener_or_a_token() {
    let default = TestApp::spawn().await;
    expect_error(scrape(&default).await, StatusCode::NOT_FOUND, "not_found").await;
    // Still a documented path: other methods are not allowed there, as everywhere.
    let trace = reqwest::Client::new()
        .request(reqwest::Method::TRACE, default.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), StatusCode::METHOD_NOT_ALLOWED);
    let app = TestApp::spawn_with(with_token).await;
    expect_error(
        app.get("/metrics").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let wrong = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-for-test")
        .send()
        .await
        .unwrap();
    expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(scrape(&app).await.status(), StatusCode::OK);
}

/// A scrape does not count whole tables: the counts are reused for a while, so a session
/// started between two quick scrapes is not yet in the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_reuse_the_counted_gauges() {
    let _turn = GAUGES.lock().await;
    let app = TestApp::spawn_with(with_token).await;
    app.sign_in(&Wallet::random()).await;
    let first = scrape(&app).await.text().await.unwrap();
    assert_eq!(sample(&first, "siwe_active_sessions"), Some(1.0));
    app.sign_in(&Wallet::random()).await;
    let second = scrape(&app).await.text().await.unwrap();
    assert_eq!(sample(&second, "siwe_active_sessions"), Some(1.0));
    // The requests counter, maintained as requests happen, has moved on.
    let verified = |text: &str| {
        sample(
            text,
            r#"siwe_http_requests_total{method="POST",route="/api/auth/verify",status="200"}"#,
        )
        .unwrap()
    };
    assert!(verified(&second) > verified(&first));
}

/// Request series are labelled with a fixed set of methods and routes, so made-up methods and
/// paths cannot grow `/metrics` (and the process) without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let app = TestApp::spawn_with(with_token).await;
    let client = reqwest::Client::new();
    for i in 0..60 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let path = format!("/junk{i}/x{i}");
        client.request(method, app.url(&path)).send().await.unwrap();
        client
            .get(app.url(&format!("/api/nope{i}")))
            .send()
            .await
            .unwrap();
    }
    let text = scrape(&app).await.text().await.unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("siwe_http_requests_total{"))
        .collect();
    assert!(!text.contains("MADEUP") && !text.contains("junk") && !text.contains("nope"));
    assert!(
        series
            .iter()
            .any(|l| l.contains(r#"method="other",route="unmatched""#)),
        "{text}"
    );
    // Every test in this binary together makes a few dozen series at most.
    assert!(series.len() < 60, "{} series:\n{text}", series.len());
}
