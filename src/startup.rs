//! Builds the application from settings: secret, database, services, routes and the listener.

mod routes;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    Server,
};
use url::Url;

use self::routes::{app, metrics_app, middlewares};
use crate::{
    api::{dto::UiConfigBody, AppState, SessionCookie},
    clock::Clock,
    config::Settings,
    db::Db,
    domain::siwe::SiwePolicy,
    http::{
        connections::{ConnectionLimits, LimitedAcceptor},
        ClientIpResolver, Middlewares, RateLimiter,
    },
    keys::{secret, JwtKeys},
    mail::Mailer,
    metrics::MetricsGate,
    service::{CpuPool, Identity, Service, ServiceConfig},
};

/// Connections the metrics listener (`metrics.bind`) takes at once.
const METRICS_MAX_CONNECTIONS: usize = 16;

/// How long in-flight requests get to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct Application {
    acceptor: LimitedAcceptor<TcpAcceptor>,
    local_addr: SocketAddr,
    /// A separate listener for /metrics (`metrics.bind`).
    metrics: Option<(LimitedAcceptor<TcpAcceptor>, SocketAddr)>,
    /// /metrics on the main listener, with its bearer token (`metrics.token`).
    metrics_on_main: MetricsGate,
    state: Arc<AppState>,
    middlewares: Middlewares,
    /// Shared with the rate-limit middleware; purged by the cleanup loop.
    limiter: Arc<RateLimiter>,
    cleanup_interval: Duration,
}

/// Opens the database, loads or creates the secret and signing keys, and builds the service
/// (what the server runs, without HTTP; also used by the benches and the seeding tool). The
/// service and its signing keys read the time from `clock`.
pub async fn open_service(settings: &Settings, clock: Clock) -> anyhow::Result<Service> {
    let public_url = settings.public_url()?;
    let keys = secret::token_keys(settings.security.secret.as_ref(), &settings.data_dir())?;
    let db_settings = settings.database.clone();
    let db =
        tokio::task::spawn_blocking(move || Db::open(&db_settings.path, db_settings.pool_size))
            .await
            .context("database start-up task failed")??;
    Ok(Service::new(
        db,
        ServiceConfig {
            clock: clock.clone(),
            policy: policy_from(settings, &public_url)?,
            keys,
            session_ttl: time::Duration::seconds(settings.session.ttl_secs as i64),
            reauth_window: time::Duration::seconds(settings.session.reauth_window_secs as i64),
            identity: Identity {
                domain: domain_of(&public_url),
                origin: public_url.origin().ascii_serialization(),
                statement: settings.siwe.statement.clone(),
            },
            mailer: Mailer::from_settings(&settings.email)?,
            email_link_ttl: time::Duration::seconds(settings.email.link_ttl_secs as i64),
            email_wallet_attach: settings.email.wallet_attach,
            event_retention: time::Duration::days(i64::from(settings.audit.retention_days)),
            jwt: JwtKeys::open(&settings.data_dir(), settings.tokens.ttl_secs, clock)?,
            token_ttl: time::Duration::seconds(settings.tokens.ttl_secs as i64),
            token_audiences: if settings.tokens.audiences.is_empty() {
                vec![public_url.origin().ascii_serialization()]
            } else {
                settings.tokens.audiences.clone()
            },
            cpu: CpuPool::new()?,
        },
    ))
}

impl Application {
    /// Opens the database, loads or creates the secret, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// [`Application::build`] on a given clock (tests move theirs instead of sleeping).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        settings.validate()?;
        let public_url = settings.public_url()?;
        let service = open_service(&settings, clock).await?;
        let state = Arc::new(AppState {
            service: Arc::new(service),
            cookie: SessionCookie::from_settings(&settings),
            client_ip: ClientIpResolver::new(settings.trusted_proxies()),
            ui: UiConfigBody {
                app_name: settings.ui.app_name.clone(),
                logo_url: settings.ui.logo_url.clone(),
                accent_color: settings.ui.accent_color.clone(),
                chain_ids: settings.siwe.chain_ids.clone(),
                redirect_origins: settings.return_origins(),
                email_enabled: settings.email.smtp_host.is_some(),
            },
            forward: settings.forward_auth_policy(),
            public_origin: public_url.origin().ascii_serialization(),
        });
        let limiter = Arc::new(RateLimiter::new(&settings.rate_limit));
        let middlewares = middlewares(&settings, &state, Arc::clone(&limiter));
        if !settings.forward_auth.rules.is_empty() && settings.server.trusted_proxies.is_empty() {
            tracing::warn!(
                "forward_auth.rules are set but server.trusted_proxies is empty: the proxy's \
                 headers naming the protected site are not believed, so every signed-in \
                 forward-auth check is refused; add the proxy's address"
            );
        }
        let bind = settings.bind_addr()?;
        let acceptor = TcpListener::bind(bind)
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {bind} (server.bind)"))?;
        let local_addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("the listener has no address")?;
        let limits = ConnectionLimits {
            max: settings.server.max_connections,
            per_ip: settings.max_connections_per_ip(),
            header_timeout: Duration::from_secs(settings.server.header_timeout_secs),
            keep_alive_timeout: Duration::from_secs(settings.server.keep_alive_timeout_secs),
            trusted: ClientIpResolver::new(settings.trusted_proxies()),
        };
        let metrics = match (&settings.metrics.bind, settings.metrics.enabled) {
            (Some(bind), true) => {
                let addr: SocketAddr = bind.parse()?;
                let acceptor = TcpListener::bind(addr)
                    .into_acceptor()
                    .await
                    .with_context(|| format!("cannot listen on {addr} (metrics.bind)"))?;
                let local = acceptor
                    .local_addr()
                    .first()
                    .and_then(|a| a.as_socket_addr().copied())
                    .context("the metrics listener has no address")?;
                // The scraper's listener gets the same header deadline and idle timeout, and
                // a few connections.
                let limits = ConnectionLimits {
                    max: METRICS_MAX_CONNECTIONS,
                    per_ip: METRICS_MAX_CONNECTIONS,
                    ..limits.clone()
                };
                Some((LimitedAcceptor::new(acceptor, limits), local))
            }
            _ => None,
        };
        Ok(Self {
            acceptor: LimitedAcceptor::new(acceptor, limits),
            local_addr,
            metrics_on_main: match &settings.metrics.token {
                Some(token) if settings.metrics.enabled => MetricsGate::Token(token.clone()),
                _ => MetricsGate::Closed,
            },
            metrics,
            state,
            middlewares,
            limiter,
            cleanup_interval: Duration::from_secs(settings.database.cleanup_interval_secs),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The service behind the API (its database included), for tools and tests that work
    /// beside the HTTP API.
    pub fn service(&self) -> Arc<Service> {
        Arc::clone(&self.state.service)
    }

    /// The address of the separate metrics listener, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(self, stop: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let cleanup = tokio::spawn(cleanup_loop(
            Arc::clone(&self.state.service),
            self.limiter,
            self.cleanup_interval,
        ));
        tracing::info!(address = %self.local_addr, "listening");
        let metrics_server = self.metrics.map(|(acceptor, addr)| {
            tracing::info!(address = %addr, "metrics listening");
            let app = metrics_app(Arc::clone(&self.state));
            tokio::spawn(Server::new_with_acceptor(acceptor).run(app))
        });
        let app = app(self.state, self.middlewares, self.metrics_on_main);
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, stop, Some(SHUTDOWN_GRACE))
            .await;
        cleanup.abort();
        if let Some(server) = metrics_server {
            server.abort();
        }
        result
    }
}

/// Deletes expired rows and forgets rate-limit state of clients that have recovered.
async fn cleanup_loop(service: Arc<Service>, limiter: Arc<RateLimiter>, every: Duration) {
    // The first round comes one interval after start, so start-up does no bulk deletes.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticker.tick().await;
        limiter.purge();
        match service.delete_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "deleted expired nonces and sessions"),
            Err(err) => tracing::warn!(error = %err, "cleanup of expired rows failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Checks settings, secret, signing keys and database without changing anything; returns what
/// was checked.
pub fn check(settings: &Settings) -> anyhow::Result<Vec<String>> {
    settings.validate()?;
    let mut done = vec![format!(
        "configuration (public_url {})",
        settings.server.public_url
    )];
    if settings.security.secret.is_none() {
        let path = secret::path(&settings.data_dir());
        if path.exists() {
            secret::load_or_create(None, &settings.data_dir())?;
            done.push(format!("secret {}", path.display()));
        } else {
            done.push(format!(
                "secret {} will be generated on first start",
                path.display()
            ));
        }
    }
    let keys = settings.data_dir().join("jwt-keys.json");
    if keys.exists() {
        JwtKeys::open(
            &settings.data_dir(),
            settings.tokens.ttl_secs,
            Clock::system(),
        )?;
        done.push(format!("token signing keys {}", keys.display()));
    }
    let path = &settings.database.path;
    if path.exists() {
        done.push(format!("database {}: {}", path.display(), Db::check(path)?));
    } else {
        done.push(format!(
            "database {} will be created on first start",
            path.display()
        ));
    }
    if let Some(mailer) = Mailer::from_settings(&settings.email)? {
        drop(mailer);
        done.push("email settings".into());
    }
    Ok(done)
}

/// host[:port] of a URL, as a message's domain line carries it.
fn domain_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

fn policy_from(settings: &Settings, public_url: &Url) -> anyhow::Result<SiwePolicy> {
    let mut domains = vec![domain_of(public_url)];
    domains.extend(settings.siwe.domains.iter().map(|d| d.to_ascii_lowercase()));
    let mut uri_origins = vec![public_url.origin()];
    for uri in &settings.siwe.uris {
        uri_origins.push(
            Url::parse(uri)
                .with_context(|| format!("siwe.uris: {uri:?}"))?
                .origin(),
        );
    }
    Ok(SiwePolicy {
        domains,
        uri_origins,
        chain_ids: settings.siwe.chain_ids.clone(),
        nonce_ttl: time::Duration::seconds(settings.siwe.nonce_ttl_secs as i64),
        clock_skew: time::Duration::seconds(settings.siwe.clock_skew_secs as i64),
    })
}
