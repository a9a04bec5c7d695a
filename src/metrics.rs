//! Prometheus metrics: requests by route and status, sign-ins by result, rate-limited requests,
//! SQLite latency; active sessions and nonces are counted when scraped.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub sign_ins: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub db_seconds: Histogram,
    pub active_sessions: IntGauge,
    pub nonces: IntGauge,
}

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
    registry.register(Box::new(db_seconds.clone()))?;
    registry.register(Box::new(active_sessions.clone()))?;
    registry.register(Box::new(nonces.clone()))?;
    Ok(Metrics {
        registry,
        requests,
        sign_ins,
        rate_limited,
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
