//! Prometheus metrics: requests by route and status, sign-ins by result, rate-limited requests,
//! SQLite latency; active sessions and nonces are counted at most every `GAUGE_MAX_AGE`.
//! Who may read them on a listener is its `MetricsGate`.

use std::{
    future::Future,
    sync::LazyLock,
    time::{Duration, Instant},
};

use subtle::ConstantTimeEq;

use crate::{config::Secret, error::AppResult};

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub sign_ins: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub contract_session_checks: IntCounterVec,
    pub pairings: IntCounterVec,
    pub config_reloads: IntCounterVec,
    pub db_seconds: Histogram,
    pub active_sessions: IntGauge,
    pub nonces: IntGauge,
}

/// The version label of `siwe_build_info`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn build() -> prometheus::Result<Metrics> {
    let registry = Registry::new_custom(Some("siwe".into()), None)?;
    let requests = IntCounterVec::new(
        Opts::new(
            "http_requests_total",
            "HTTP requests by route, method and status.",
        ),
        &["route", "method", "status"],
    )?;
    let sign_ins = IntCounterVec::new(
        Opts::new(
            "sign_ins_total",
            "Sign-in attempts by result: ok, or the error code.",
        ),
        &["result"],
    )?;
    let rate_limited = IntCounterVec::new(
        Opts::new(
            "rate_limited_total",
            "Requests refused by a rate-limit policy.",
        ),
        &["policy"],
    )?;
    let contract_session_checks = IntCounterVec::new(
        Opts::new(
            "contract_session_checks_total",
            "Re-checks of contract wallets' sessions by result: valid, ended, unavailable.",
        ),
        &["result"],
    )?;
    let pairings = IntCounterVec::new(
        Opts::new(
            "pairings_total",
            "Steps of sign-ins from another device (create, approve, decline, claim) by result: \
             ok, or the error code.",
        ),
        &["step", "result"],
    )?;
    let config_reloads = IntCounterVec::new(
        Opts::new(
            "config_reloads_total",
            "Configuration reloads (SIGHUP) by result: applied, or refused (the running one kept).",
        ),
        &["result"],
    )?;
    let db_seconds = Histogram::with_opts(
        HistogramOpts::new(
            "sqlite_seconds",
            "Time of database work, including waiting for a connection.",
        )
        .buckets(vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
        ]),
    )?;
    let active_sessions =
        IntGauge::new("active_sessions", "Sessions neither expired nor revoked.")?;
    let nonces = IntGauge::new(
        "nonces",
        "Used nonces remembered until they expire, so that each works once.",
    )?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(sign_ins.clone()))?;
    registry.register(Box::new(rate_limited.clone()))?;
    registry.register(Box::new(contract_session_checks.clone()))?;
    registry.register(Box::new(pairings.clone()))?;
    registry.register(Box::new(config_reloads.clone()))?;
    registry.register(Box::new(db_seconds.clone()))?;
    registry.register(Box::new(active_sessions.clone()))?;
    registry.register(Box::new(nonces.clone()))?;
    let build_info = IntGaugeVec::new(
        Opts::new(
            "build_info",
            "Always 1; its version label is the running version.",
        ),
        &["version"],
    )?;
    build_info.with_label_values(&[VERSION]).set(1);
    registry.register(Box::new(build_info))?;
    Ok(Metrics {
        registry,
        requests,
        sign_ins,
        rate_limited,
        contract_session_checks,
        pairings,
        config_reloads,
        db_seconds,
        active_sessions,
        nonces,
    })
}

/// The process's metrics. Global like the process they describe; tests read them over HTTP.
pub static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| build().ok());

pub fn metrics() -> Option<&'static Metrics> {
    METRICS.as_ref()
}

/// Everything in the Prometheus text format.
pub fn render() -> String {
    let Some(m) = metrics() else {
        return String::new();
    };
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&m.registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// How long counted gauges are reused: however often /metrics is scraped, whole tables are
/// counted at most this often.
pub const GAUGE_MAX_AGE: Duration = Duration::from_secs(30);

/// The last count of live sessions and remembered nonces.
#[derive(Debug, Default)]
pub struct GaugeCache(tokio::sync::Mutex<Option<(Instant, i64, i64)>>);

impl GaugeCache {
    /// The cached counts, or fresh ones from `count` when they are older than `GAUGE_MAX_AGE`.
    /// Concurrent scrapes wait for one count.
    pub async fn get<F, Fut>(&self, count: F) -> AppResult<(i64, i64)>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = AppResult<(i64, i64)>>,
    {
        let mut cached = self.0.lock().await;
        if let Some((at, sessions, nonces)) = *cached {
            if at.elapsed() < GAUGE_MAX_AGE {
                return Ok((sessions, nonces));
            }
        }
        let (sessions, nonces) = count().await?;
        *cached = Some((Instant::now(), sessions, nonces));
        Ok((sessions, nonces))
    }
}

/// Who may read /metrics on a listener (request data set by the route).
#[derive(Debug, Clone)]
pub enum MetricsGate {
    /// The separate metrics listener (`metrics.bind`): whoever can reach it.
    Open,
    /// The main listener: only with `Authorization: Bearer <metrics.token>`.
    Token(Secret),
    /// The main listener without `metrics.token`: not served (404).
    Closed,
}

impl MetricsGate {
    /// Whether this listener serves the metrics at all.
    pub fn serves(&self) -> bool {
        !matches!(self, Self::Closed)
    }

    pub fn admits(&self, authorization: Option<&str>) -> bool {
        match self {
            Self::Open => true,
            Self::Closed => false,
            Self::Token(token) => authorization
                .and_then(|h| h.strip_prefix("Bearer "))
                .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_gate_wants_the_exact_bearer_token() {
        let gate = MetricsGate::Token(Secret::from("s3cret-metrics-token".to_string()));
        assert!(gate.admits(Some("Bearer s3cret-metrics-token")));
        for wrong in [
            "Bearer s3cret-metrics-toke",
            "Bearer ",
            "s3cret-metrics-token",
            "Basic x",
        ] {
            assert!(!gate.admits(Some(wrong)), "{wrong}");
        }
        assert!(!gate.admits(None));
        assert!(MetricsGate::Open.admits(None));
        assert!(!MetricsGate::Closed.serves());
    }
}
