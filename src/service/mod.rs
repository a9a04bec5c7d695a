//! What the product does, in its own words: issue nonces, sign people in, check and end sessions.
//! Knows nothing of HTTP.

mod auth;

pub use auth::{Account, AuthService, Authenticated, ClientInfo, NonceIssued, SignIn};

use time::OffsetDateTime;

/// Unix milliseconds, the unit every stored time uses.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The inverse of [`unix_ms`]; out-of-range values clamp to the epoch.
pub fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
