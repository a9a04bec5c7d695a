//! The token endpoint's limit per client id, beside the per-address limit of its route: the
//! `auth` policy's numbers (`rate_limit.auth_*`), so that one client cannot take the endpoint
//! for itself from many addresses. Only ids of known clients are keyed, so memory stays
//! bounded by the number of clients.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota};

use crate::error::{AppError, AppResult, ErrorCode};

/// The per-client limit of the token endpoint (`rate_limit.auth_*`, keyed by client id), with
/// its quota; replaced by a reload (SIGHUP) when the quota changes.
pub struct ClientRateLimit(ArcSwap<(Numbers, Option<DefaultKeyedRateLimiter<String>>)>);

/// Per minute and burst, as configured.
type Numbers = (u32, u32);

fn keyed(per_minute: u32, burst: u32) -> (Numbers, Option<DefaultKeyedRateLimiter<String>>) {
    let limiter = NonZeroU32::new(per_minute).map(|per_minute| {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
    });
    ((per_minute, burst), limiter)
}

impl ClientRateLimit {
    /// `per_minute` 0 turns it off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self(ArcSwap::from_pointee(keyed(per_minute, burst)))
    }

    /// New numbers for the next requests; the same numbers keep the clients' counts.
    pub fn reload(&self, per_minute: u32, burst: u32) {
        if self.0.load().0 != (per_minute, burst) {
            self.0.store(Arc::new(keyed(per_minute, burst)));
        }
    }

    /// `Ok` when `client_id` may ask now; otherwise a `rate_limited` error.
    pub(super) fn check(&self, client_id: &str) -> AppResult<()> {
        let current = self.0.load();
        let Some(limiter) = &current.1 else {
            return Ok(());
        };
        limiter.check_key(&client_id.to_string()).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(limiter.clock().now());
            tracing::info!(client_id, retry_after_ms = wait.as_millis() as u64, "client rate limited");
            AppError::new(
                ErrorCode::RateLimited,
                "Too many token requests from this client; retry after the number of seconds in Retry-After.",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_replaces_changed_numbers_and_keeps_the_counts_of_the_same_ones() {
        let limit = ClientRateLimit::new(1, 1);
        assert!(limit.check("app").is_ok());
        assert!(limit.check("app").is_err());
        limit.reload(1, 1);
        assert!(
            limit.check("app").is_err(),
            "the same numbers keep the count"
        );
        limit.reload(1, 2);
        assert!(limit.check("app").is_ok(), "new numbers count afresh");
        limit.reload(0, 0);
        assert!(limit.check("app").is_ok(), "0 turns it off");
    }
}
