//! Keeping the server running: health, metrics, and deleting what has expired.

use super::Service;
use crate::clock::unix_ms;
use crate::{db::Db, error::AppResult};

impl Service {
    /// Updates the gauges counted from the database (at most every
    /// `metrics::GAUGE_MAX_AGE`), then renders all metrics.
    pub async fn metrics_text(&self) -> AppResult<String> {
        let now = self.now_ms();
        let (sessions, nonces) = self
            .gauges
            .get(|| self.db.read_blocking(move |conn| Db::counts(conn, now)))
            .await?;
        if let Some(m) = crate::metrics::metrics() {
            m.active_sessions.set(sessions);
            m.nonces.set(nonces);
        }
        Ok(crate::metrics::render())
    }

    /// Succeeds when the database answers.
    pub async fn check_health(&self) -> AppResult<()> {
        self.db.read(Db::ping)
    }

    /// Deletes expired nonces, sessions, email links and OpenID Connect codes, tokens and
    /// grants, and events past their retention, a small batch per write so that requests
    /// queued behind it wait only a moment.
    pub async fn delete_expired(&self) -> AppResult<usize> {
        let retention = self.event_retention;
        let mut total = 0;
        loop {
            let clock = self.clock.clone();
            let deleted = self
                .db
                .write_queued(move |conn| {
                    let now = clock.now();
                    Db::delete_expired_batch(conn, unix_ms(now), unix_ms(now - retention))
                })
                .await?;
            if deleted == 0 {
                return Ok(total);
            }
            total += deleted;
        }
    }
}
