//! The token endpoint's limit per client id, beside the per-address limit of its route: the
//! `auth` policy's numbers (`rate_limit.auth_*`), so that one client cannot take the endpoint
//! for itself from many addresses. Only ids of known clients are keyed, so memory stays
//! bounded by the number of clients.

use std::{num::NonZeroU32, time::Duration};

use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota};

use crate::error::{AppError, AppResult, ErrorCode};

/// The per-client limit of the token endpoint (`rate_limit.auth_*`, keyed by client id).
pub struct ClientRateLimit(Option<DefaultKeyedRateLimiter<String>>);

impl ClientRateLimit {
    /// `per_minute` 0 turns it off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self(NonZeroU32::new(per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        }))
    }

    /// `Ok` when `client_id` may ask now; otherwise a `rate_limited` error.
    pub(super) fn check(&self, client_id: &str) -> AppResult<()> {
        let Some(limiter) = &self.0 else {
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
