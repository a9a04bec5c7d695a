//! Named per-IP rate-limit policies (governor), which routes fall under which, and the middleware
//! that answers 429 with `Retry-After`. IPv6 clients are keyed by their /64, since one host
//! usually has a whole /64 to choose addresses from.

use std::{
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota};
use poem::{
    http::{header, HeaderValue, Method},
    Endpoint, IntoResponse, Request, Response,
};

use super::{client_address::ClientAddress, error::error_response, Around};
use crate::{config::RateLimitSettings, error::ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// nonce, verify, wallet linking: cheap to ask for, costly to answer.
    Auth,
    /// Everything else under /api.
    Read,
}

/// The two policies, each replaceable while requests run (a reload of `rate_limit.*`).
pub struct RateLimiter {
    auth: ArcSwap<Limit>,
    read: ArcSwap<Limit>,
}

/// One policy: its quota (per minute, burst) and the clients it counts; none when off.
struct Limit {
    quota: (u32, u32),
    keyed: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Limit {
    fn new(per_minute: u32, burst: u32) -> Self {
        let keyed = NonZeroU32::new(per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        });
        Self {
            quota: (per_minute, burst),
            keyed,
        }
    }
}

/// Puts in a new limit when the quota changed; the same quota keeps its clients' counts.
fn replace(limit: &ArcSwap<Limit>, per_minute: u32, burst: u32) {
    if limit.load().quota != (per_minute, burst) {
        limit.store(Arc::new(Limit::new(per_minute, burst)));
    }
}

/// The rate-limit key of an address: IPv4 as is, IPv6 by /64.
pub fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

impl RateLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            auth: ArcSwap::from_pointee(Limit::new(settings.auth_per_minute, settings.auth_burst)),
            read: ArcSwap::from_pointee(Limit::new(settings.read_per_minute, settings.read_burst)),
        }
    }

    /// Applies reloaded settings to the next requests. A policy whose quota changed starts
    /// counting afresh; one whose quota did not keeps its clients' counts.
    pub fn reload(&self, settings: &RateLimitSettings) {
        replace(&self.auth, settings.auth_per_minute, settings.auth_burst);
        replace(&self.read, settings.read_per_minute, settings.read_burst);
    }

    /// `Ok` when the request may go ahead; otherwise how long until it may.
    pub fn check(&self, policy: Policy, ip: IpAddr) -> Result<(), Duration> {
        let limit = match policy {
            Policy::Auth => self.auth.load(),
            Policy::Read => self.read.load(),
        };
        let Some(limiter) = &limit.keyed else {
            return Ok(());
        };
        limiter
            .check_key(&key_of(ip))
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Forgets clients whose limits have fully recovered, so memory stays bounded.
    pub fn purge(&self) {
        for limit in [self.auth.load(), self.read.load()] {
            if let Some(limiter) = &limit.keyed {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }

    /// How many clients are remembered.
    pub fn tracked_clients(&self) -> usize {
        [self.auth.load(), self.read.load()]
            .iter()
            .filter_map(|limit| limit.keyed.as_ref())
            .map(|l| l.len())
            .sum()
    }
}

/// Which rate-limit policy a request falls under, if any.
fn policy_for(method: &Method, path: &str) -> Option<Policy> {
    let auth = matches!(
        (method, path),
        (&Method::GET, "/api/auth/nonce")
            | (&Method::POST, "/api/auth/verify")
            | (&Method::POST, "/api/auth/challenge")
            | (&Method::POST, "/api/auth/reauthenticate")
            | (&Method::POST, "/api/auth/reauthenticate/challenge")
            | (&Method::PUT, "/api/account")
            | (&Method::POST, "/oidc/token")
            | (&Method::POST, "/oidc/revoke")
            | (&Method::POST, "/oidc/introspect")
    ) || (method == Method::POST
        && (path.starts_with("/api/wallets") || path.starts_with("/api/pairings")));
    if auth {
        Some(Policy::Auth)
    } else if path == "/api/auth/forward" {
        // The proxy asks on every request it serves, from its own address.
        None
    } else if path.starts_with("/api/")
        // The OpenID Connect pages: each authorization request may store a code.
        || matches!(path, "/oidc/authorize" | "/oidc/consent" | "/oidc/logout")
    {
        Some(Policy::Read)
    } else {
        None
    }
}

/// Refuses requests over their route's policy, before their body is read. Needs the
/// [`ClientAddress`] stored outside it.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<RateLimiter>,
}

impl RateLimit {
    /// `limiter` is shared with the cleanup that purges it.
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }
}

impl Around for RateLimit {
    async fn around<E: Endpoint>(&self, inner: &E, req: Request) -> poem::Result<Response> {
        if let Some(policy) = policy_for(req.method(), req.uri().path()) {
            let ip = ClientAddress::of(&req).ip;
            if let Err(wait) = self.limiter.check(policy, ip) {
                return Ok(refusal(policy, ip, wait));
            }
        }
        Ok(inner.call(req).await?.into_response())
    }
}

/// The 429 for a client that must wait, logged and counted.
fn refusal(policy: Policy, ip: IpAddr, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    tracing::info!(client_ip = %ip, ?policy, retry_after = secs, "rate limited");
    if let Some(m) = crate::metrics::metrics() {
        let name = if policy == Policy::Auth {
            "auth"
        } else {
            "read"
        };
        m.rate_limited.with_label_values(&[name]).inc();
    }
    let mut resp = error_response(
        ErrorCode::RateLimited,
        format!("Too many requests from your address; try again in {secs} seconds."),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32, burst: u32) -> RateLimitSettings {
        RateLimitSettings {
            auth_per_minute: per_minute,
            auth_burst: burst,
            read_per_minute: 0,
            read_burst: 0,
        }
    }

    #[test]
    fn burst_then_refusal_with_a_wait_per_client() {
        let rl = RateLimiter::new(&settings(30, 3));
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
        let rl = RateLimiter::new(&settings(30, 2));
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
        let rl = RateLimiter::new(&settings(30, 1));
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
        let rl = RateLimiter::new(&settings(60_000, 1));
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
        let limiter = Arc::new(RateLimiter::new(&settings(1, 1)));
        let app =
            poem::EndpointExt::with(poem::endpoint::make_sync(|_| "ok"), RateLimit::new(limiter));
        let nonce = || Request::builder().uri_str("/api/auth/nonce").finish();
        assert_eq!(app.call(nonce()).await.unwrap().status(), 200);
        let refused = app.call(nonce()).await.unwrap();
        assert_eq!(refused.status(), 429);
        assert!(refused.header(header::RETRY_AFTER).is_some());
        let page = Request::builder().uri_str("/login").finish();
        assert_eq!(app.call(page).await.unwrap().status(), 200);
    }
}
