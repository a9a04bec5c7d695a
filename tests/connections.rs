//! Connections and client addresses through the real server: who the client is behind a
//! trusted proxy, slow and idle connections, and the per-address cap.

mod common;

use common::*;
use reqwest::{header::HeaderValue, Client, StatusCode};

/// A hop with bytes that are not ASCII spoils only itself: the client behind it is still told
/// apart from other clients (here by its own rate-limit bucket).
#[tokio::test]
async fn non_ascii_forwarded_for_is_read_hop_by_hop() {
    let app = TestApp::spawn_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
        s.rate_limit.read_per_minute = 1;
        s.rate_limit.read_burst = 1;
    })
    .await;
    let client = Client::new();
    let session = |xff: &'static [u8]| {
        client
            .get(app.url("/api/auth/session"))
            .header("x-forwarded-for", HeaderValue::from_bytes(xff).unwrap())
            .send()
    };
    // Two clients behind the proxy, each with a junk hop the proxy did not clean.
    let first = session(b"caf\xc3\xa9, 203.0.113.7").await.unwrap();
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let second = session(b"caf\xc3\xa9, 203.0.113.8").await.unwrap();
    assert_eq!(second.status(), StatusCode::UNAUTHORIZED);
    // The first client again: its own bucket is empty.
    expect_error(
        session(b"\xff, 203.0.113.7").await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}
