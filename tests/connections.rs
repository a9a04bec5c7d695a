//! Connections and client addresses through the real server: who the client is behind a
//! trusted proxy, slow and idle connections, and the per-address cap.

mod common;

use std::time::Duration;

use common::*;
use reqwest::{header::HeaderValue, Client, StatusCode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

/// A hop with bytes that are not ASCII spoils only itself: the client behind it is still told
/// apart from other clients (here by its own rate-limit bucket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// Whether the server closes `stream` within `wait` (EOF or a reset), reading what it sends.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// 150 connections from one address that never finish their headers, against
/// max_connections = 100: another address is answered at once, the connections over the
/// address's cap are closed at once, the rest when the header deadline passes.
#[tokio::test]
async fn slow_connections_cannot_hold_the_server() {
    if common::postgres::skip_unless_sqlite(
        "connection limits, the same whatever the storage, timed on one thread",
    ) {
        return;
    }
    let app = TestApp::spawn_with(|s| {
        s.server.max_connections = 100;
        s.server.header_timeout_secs = 2;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..150 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let other = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let resp = other.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // A quarter of max_connections stay; the other 125 are closed straight away.
    let mut open = Vec::new();
    for mut stream in slow {
        if !closed_within(&mut stream, Duration::from_millis(50)).await {
            open.push(stream);
        }
    }
    assert_eq!(open.len(), 25);
    // The header deadline (2 s from connecting) closes the rest.
    for stream in &mut open {
        assert!(closed_within(stream, Duration::from_secs(4)).await);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The header deadline counts to the end of the headers, so sending a byte now and then does
/// not keep a connection; a kept-alive connection is closed when idle; a quick client is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_and_idle_connections_are_closed() {
    let app = TestApp::spawn_with(|s| {
        s.server.header_timeout_secs = 2;
        s.server.keep_alive_timeout_secs = 1;
    })
    .await;
    let mut trickle = connect(&app).await;
    let started = Instant::now();
    let head =
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut closed_after = None;
    for byte in head {
        if trickle.write_all(&[*byte]).await.is_err()
            || closed_within(&mut trickle, Duration::from_millis(250)).await
        {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the trickling connection is closed");
    assert!(
        closed_after >= Duration::from_millis(1900) && closed_after < Duration::from_secs(3),
        "{closed_after:?}"
    );

    // A whole request is answered, and the connection is closed after a second of idleness.
    let mut kept = connect(&app).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let idle = Instant::now();
    assert!(closed_within(&mut kept, Duration::from_secs(3)).await);
    assert!(
        idle.elapsed() >= Duration::from_millis(900),
        "{:?}",
        idle.elapsed()
    );
}

/// Trusted proxies are exempt from the per-address cap: all clients come through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_are_not_capped_per_address() {
    let app = TestApp::spawn_with(|s| {
        s.server.max_connections = 8;
        s.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let mut streams = Vec::new();
    for _ in 0..6 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        streams.push(stream);
    }
    for stream in &mut streams {
        assert!(!closed_within(stream, Duration::from_millis(100)).await);
    }
}

/// A client that asks for the largest page (Swagger UI, ~1.8 MB) and never reads it holds no
/// slot: the kernel's socket buffers take the whole answer, and the idle timeout then closes the
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_are_disconnected() {
    let app = TestApp::spawn_with(|s| s.server.keep_alive_timeout_secs = 1).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(app.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    stream
        .write_all(b"GET /docs HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
}

/// The metrics listener has the same header deadline: a scraper-sized listener cannot be held
/// by connections that never finish their headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_has_the_header_deadline() {
    let app = TestApp::spawn_with(|s| {
        s.metrics.bind = Some("127.0.0.1:0".into());
        s.server.header_timeout_secs = 1;
    })
    .await;
    let base = app.metrics_base.clone().unwrap();
    let mut slow = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(3)).await);
    let resp = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
