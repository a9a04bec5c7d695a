use super::*;

fn settings(per_minute: u32, burst: u32) -> RateLimitSettings {
    RateLimitSettings {
        auth_per_minute: per_minute,
        auth_burst: burst,
        read_per_minute: 0,
        read_burst: 0,
        shared: false,
    }
}

#[test]
fn burst_then_refusal_with_a_wait_per_client() {
    let rl = RateLimiter::new(&settings(30, 3), None);
    let a: IpAddr = "198.51.100.1".parse().unwrap();
    for _ in 0..3 {
        assert!(rl.check(Policy::Auth, a).is_ok());
    }
    let wait = rl.check(Policy::Auth, a).unwrap_err();
    assert!(
        wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
        "{wait:?}"
    );
    assert!(rl
        .check(Policy::Auth, "198.51.100.2".parse().unwrap())
        .is_ok());
    assert!(
        rl.check(Policy::Read, a).is_ok(),
        "a disabled policy never refuses"
    );
}

#[test]
fn reload_replaces_a_changed_quota_and_keeps_the_counts_of_a_same_one() {
    let rl = RateLimiter::new(&settings(30, 2), None);
    let a: IpAddr = "198.51.100.1".parse().unwrap();
    assert!(rl.check(Policy::Auth, a).is_ok());
    assert!(rl.check(Policy::Auth, a).is_ok());
    rl.reload(&settings(30, 2));
    assert!(
        rl.check(Policy::Auth, a).is_err(),
        "the same quota keeps its count"
    );
    rl.reload(&settings(30, 3));
    for _ in 0..3 {
        assert!(
            rl.check(Policy::Auth, a).is_ok(),
            "a new quota counts afresh"
        );
    }
    assert!(rl.check(Policy::Auth, a).is_err());
    rl.reload(&settings(0, 0));
    assert!(
        rl.check(Policy::Auth, a).is_ok(),
        "a policy turned off refuses nothing"
    );
}

#[test]
fn ipv6_is_keyed_by_slash_64() {
    let rl = RateLimiter::new(&settings(30, 1), None);
    assert!(rl
        .check(Policy::Auth, "2001:db8:1:2::1".parse().unwrap())
        .is_ok());
    assert!(rl
        .check(Policy::Auth, "2001:db8:1:2:ffff::9".parse().unwrap())
        .is_err());
    assert!(rl
        .check(Policy::Auth, "2001:db8:1:3::1".parse().unwrap())
        .is_ok());
}

#[test]
fn purge_forgets_recovered_clients() {
    // One cell every millisecond: every client has recovered a few ms later.
    let rl = RateLimiter::new(&settings(60_000, 1), None);
    for i in 0..5000u32 {
        let _ = rl.check(Policy::Auth, IpAddr::from(i.to_be_bytes()));
    }
    assert_eq!(rl.tracked_clients(), 5000);
    std::thread::sleep(Duration::from_millis(20));
    rl.purge();
    assert_eq!(rl.tracked_clients(), 0);
}

#[test]
fn policies_by_route() {
    assert_eq!(
        policy_for(&Method::GET, "/api/auth/nonce"),
        Some(Policy::Auth)
    );
    assert_eq!(
        policy_for(&Method::POST, "/api/auth/verify"),
        Some(Policy::Auth)
    );
    assert_eq!(
        policy_for(&Method::POST, "/api/wallets/challenge"),
        Some(Policy::Auth)
    );
    for path in [
        "/api/auth/reauthenticate",
        "/api/auth/reauthenticate/challenge",
    ] {
        assert_eq!(
            policy_for(&Method::POST, path),
            Some(Policy::Auth),
            "{path}"
        );
    }
    assert_eq!(
        policy_for(&Method::GET, "/api/auth/session"),
        Some(Policy::Read)
    );
    assert_eq!(policy_for(&Method::GET, "/api/wallets"), Some(Policy::Read));
    assert_eq!(
        policy_for(&Method::GET, "/oidc/authorize"),
        Some(Policy::Read)
    );
    assert_eq!(policy_for(&Method::GET, "/healthz"), None);
    assert_eq!(policy_for(&Method::GET, "/docs"), None);
}

#[tokio::test]
async fn over_the_limit_answers_429_with_retry_after() {
    let limiter = Arc::new(RateLimiter::new(&settings(1, 1), None));
    let app = poem::EndpointExt::with(poem::endpoint::make_sync(|_| "ok"), RateLimit::new(limiter));
    let nonce = || Request::builder().uri_str("/api/auth/nonce").finish();
    assert_eq!(app.call(nonce()).await.unwrap().status(), 200);
    let refused = app.call(nonce()).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.header(header::RETRY_AFTER).is_some());
    let page = Request::builder().uri_str("/login").finish();
    assert_eq!(app.call(page).await.unwrap().status(), 200);
}
