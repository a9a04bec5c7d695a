//! Named per-IP rate-limit policies (governor), which routes fall under which, and the middleware
//! that answers 429 with `Retry-After`. IPv6 clients are keyed by their /64, since one host
//! usually has a whole /64 to choose addresses from. Each instance counts its own requests, or,
//! with `rate_limit.shared` (PostgreSQL), every instance's together: per clock minute, in the
//! database.

use std::{
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;
use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota};
use poem::{
    http::{header, HeaderValue, Method},
    Endpoint, IntoResponse, Request, Response,
};

use super::{client_address::ClientAddress, error::error_response, Around};
use crate::{
    clock::Clock,
    config::RateLimitSettings,
    db::{rate_limits, Db},
    error::{AppResult, ErrorCode},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// nonce, verify, wallet linking: cheap to ask for, costly to answer.
    Auth,
    /// Everything else under /api.
    Read,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Policy::Auth => "auth",
            Policy::Read => "read",
        }
    }
}

/// The two policies, each replaceable while requests run (a reload of `rate_limit.*`).
pub struct RateLimiter {
    auth: ArcSwap<Limit>,
    read: ArcSwap<Limit>,
    /// Where every instance's requests are counted together (`rate_limit.shared`).
    shared: Option<SharedCounts>,
}

/// Counts of every instance's requests, in the database, by the application's clock.
pub struct SharedCounts {
    pub db: Db,
    pub clock: Clock,
}

/// How long a shared count lasts: a clock minute.
const WINDOW_MS: i64 = 60_000;

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
    /// Counts in memory, or in `shared` (every instance's requests together).
    pub fn new(settings: &RateLimitSettings, shared: Option<SharedCounts>) -> Self {
        Self {
            auth: ArcSwap::from_pointee(Limit::new(settings.auth_per_minute, settings.auth_burst)),
            read: ArcSwap::from_pointee(Limit::new(settings.read_per_minute, settings.read_burst)),
            shared,
        }
    }

    fn limit(&self, policy: Policy) -> arc_swap::Guard<Arc<Limit>> {
        match policy {
            Policy::Auth => self.auth.load(),
            Policy::Read => self.read.load(),
        }
    }

    /// [`RateLimiter::check`] against every instance's requests: up to `per_minute` of a
    /// client in each clock minute, counted in the database. A database that cannot count
    /// refuses the request (fail closed).
    async fn check_shared(
        &self,
        shared: &SharedCounts,
        policy: Policy,
        ip: IpAddr,
    ) -> AppResult<Result<(), Duration>> {
        let per_minute = self.limit(policy).quota.0;
        if per_minute == 0 {
            return Ok(Ok(()));
        }
        let now_ms = shared.clock.now_ms();
        let window_start = now_ms - now_ms.rem_euclid(WINDOW_MS);
        let (name, client) = (policy.name(), key_of(ip).to_string());
        let hits = shared
            .db
            .write(move |conn| rate_limits::hit(conn, name, &client, window_start))
            .await?;
        if hits <= i64::from(per_minute) {
            return Ok(Ok(()));
        }
        let wait = window_start + WINDOW_MS - now_ms;
        Ok(Err(Duration::from_millis(wait.max(1) as u64)))
    }

    /// Applies reloaded settings to the next requests. A policy whose quota changed starts
    /// counting afresh; one whose quota did not keeps its clients' counts.
    pub fn reload(&self, settings: &RateLimitSettings) {
        replace(&self.auth, settings.auth_per_minute, settings.auth_burst);
        replace(&self.read, settings.read_per_minute, settings.read_burst);
    }

    /// `Ok` when the request may go ahead; otherwise how long until it may.
    pub fn check(&self, policy: Policy, ip: IpAddr) -> Result<(), Duration> {
        let limit = self.limit(policy);
        let Some(limiter) = &limit.keyed else {
            return Ok(());
        };
        limiter
            .check_key(&key_of(ip))
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Forgets clients whose limits have fully recovered, so memory stays bounded; deletes
    /// the shared counts of past minutes (a batch, in the background).
    pub fn purge(&self) {
        if let Some(shared) = &self.shared {
            let before = shared.clock.now_ms() - WINDOW_MS;
            shared.db.write_later(move |conn| {
                rate_limits::delete_before(conn, before, 10_000).map(|_| ())
            });
        }
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
            let checked = match &self.limiter.shared {
                None => self.limiter.check(policy, ip),
                Some(shared) => match self.limiter.check_shared(shared, policy, ip).await {
                    Ok(checked) => checked,
                    Err(err) => {
                        tracing::warn!(error = %err, "rate limit not counted; request refused");
                        return Ok(error_response(err.code(), err.public_message()));
                    }
                },
            };
            if let Err(wait) = checked {
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
        m.rate_limited.with_label_values(&[policy.name()]).inc();
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
mod tests;
