//! Builds the application from settings: secret, database, services, routes and the listener.

mod backups;
mod check;
/// What the settings mean to the domain: identity, message policy, forward-auth rules.
mod policies;
/// SIGHUP: the settings that can change while serving.
mod reload;
mod routes;

pub use self::check::check;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    Server,
};

use self::policies::{check_config, identity, siwe_policy, warn_about};
use self::reload::{Reloadable, Reloader};
use self::routes::{app, metrics_app, middlewares};
use crate::{
    api::{dto::UiConfigBody, AppState, SessionCookie},
    chains::Chains,
    clock::Clock,
    config::{Config, Settings},
    db::Db,
    domain::forward_auth::ForwardAuthPolicy,
    http::{
        connections::{ConnectionLimits, LimitedAcceptor},
        ClientIpResolver, Middlewares, RateLimiter, SharedCounts,
    },
    keys::{secret, JwtKeys, KeyStore},
    mail::Mailer,
    metrics::MetricsGate,
    service::{CpuPool, Service, ServiceConfig},
};

/// Connections the metrics listener (`metrics.bind`) takes at once.
const METRICS_MAX_CONNECTIONS: usize = 16;

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
    /// `siwe.recheck_contract_sessions_secs`, when on.
    recheck_contract_sessions: Option<Duration>,
    /// How long in-flight requests get to finish on shutdown.
    shutdown_grace: Duration,
    /// The database and its backup schedule, when `[backup]` sets one.
    backups: Option<(std::path::PathBuf, crate::config::Backup)>,
    /// The settings it was built from, what a reload compares with.
    settings: Settings,
    /// The parts a reload changes.
    reloadable: Reloadable,
}

/// Opens the database, loads or creates the secret and signing keys, and builds the service
/// (what the server runs, without HTTP; also used by the benches and the seeding tool). The
/// service and its signing keys read the time from `clock`.
pub async fn open_service(config: &Config, clock: Clock) -> anyhow::Result<Service> {
    let identity = identity(config)?;
    let keys = secret::token_keys(
        config.security.secret.as_ref(),
        &config.database.data_dir,
        config.database.url.is_none(),
    )?;
    let database = config.database.clone();
    let db = match &database.url {
        Some(url) => {
            // The data folder keeps the secret and signing keys when they are not configured.
            crate::files::create_private_dir(&database.data_dir)?;
            Db::open_postgres(url.expose(), database.pool_size).await?
        }
        None => tokio::task::spawn_blocking(move || {
            Db::open_limited(&database.path, database.pool_size, database.max_bytes)
        })
        .await
        .context("database start-up task failed")??,
    };
    let jwt = JwtKeys::open_in(
        KeyStore::configured(config, &db),
        config.longest_jwt_ttl().as_secs(),
        clock.clone(),
    )?;
    Ok(Service::new(
        db,
        ServiceConfig {
            clock: clock.clone(),
            policy: siwe_policy(config),
            keys,
            session_ttl: span(config.session.ttl),
            reauth_window: span(config.session.reauth_window),
            identity,
            mailer: Mailer::from_settings(&config.email)?,
            email_link_ttl: span(config.email.link_ttl),
            email_wallet_attach: config.email.wallet_attach,
            event_retention: span(config.audit.retention),
            jwt,
            token_ttl: span(config.tokens.ttl),
            token_audiences: config.tokens.audiences.clone(),
            cpu: CpuPool::new()?,
            chains: Arc::new(Chains::new(
                &config.chains,
                config.siwe.max_contract_checks,
            )?),
            ens: ens_lookup(config),
        },
    ))
}

/// `[ens]` when names are resolved: enabled, and its chain has an RPC in `[chains]`.
fn ens_lookup(config: &Config) -> Option<crate::config::Ens> {
    let has_rpc = config
        .chains
        .iter()
        .any(|c| c.chain_id == config.ens.chain_id);
    (config.ens.enabled && has_rpc).then(|| config.ens.clone())
}

impl Application {
    /// Opens the database, loads or creates the secret, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// [`Application::build`] on a given clock (tests move theirs instead of sleeping).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        let (config, forward) = check_config(&settings)?;
        let service = open_service(&config, clock).await?;
        let shared_counts = config.rate_limit.shared.then(|| SharedCounts {
            db: service.db().clone(),
            clock: service.clock().clone(),
        });
        let server = &config.server;
        let state = Arc::new(app_state(&config, service, forward)?);
        let limiter = Arc::new(RateLimiter::new(&config.rate_limit, shared_counts));
        let middlewares = middlewares(&config, &state, Arc::clone(&limiter));
        let reloadable = Reloadable {
            limiter: Arc::clone(&limiter),
            cors: middlewares.cors.clone(),
            origin_check: middlewares.origin_check.clone(),
            client_ip: state.client_ip.clone(),
            state: Arc::clone(&state),
        };
        warn_about(&config);
        let (acceptor, local_addr) = listen(server.bind, "server.bind").await?;
        let limits = ConnectionLimits {
            max: server.max_connections,
            per_ip: server.max_connections_per_ip,
            header_timeout: server.header_timeout,
            keep_alive_timeout: server.keep_alive_timeout,
            // The same list as the middleware's, so a reload changes both.
            trusted: state.client_ip.clone(),
        };
        let metrics = match config.metrics.listener {
            Some(addr) => {
                let (acceptor, local) = listen(addr, "metrics.bind").await?;
                // The scraper's listener gets the same header deadline and idle timeout, and
                // a few connections.
                let limits = ConnectionLimits {
                    max: METRICS_MAX_CONNECTIONS,
                    per_ip: METRICS_MAX_CONNECTIONS,
                    ..limits.clone()
                };
                Some((LimitedAcceptor::new(acceptor, limits), local))
            }
            None => None,
        };
        Ok(Self {
            acceptor: LimitedAcceptor::new(acceptor, limits),
            local_addr,
            metrics_on_main: match &config.metrics.token {
                Some(token) => MetricsGate::Token(token.clone()),
                None => MetricsGate::Closed,
            },
            metrics,
            state,
            middlewares,
            limiter,
            cleanup_interval: config.database.cleanup_interval,
            shutdown_grace: server.shutdown_grace,
            backups: config
                .backup
                .clone()
                .map(|schedule| (config.database.path.clone(), schedule)),
            recheck_contract_sessions: config.siwe.recheck_contract_sessions,
            settings,
            reloadable,
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

    /// The OpenID Connect provider, for tests that work beside the HTTP API.
    pub fn oidc(&self) -> Arc<crate::oidc::Oidc> {
        Arc::clone(&self.state.oidc)
    }

    /// The address of the separate metrics listener, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish. On SIGHUP, reads
    /// the configuration again (`config_path`, as it was given at start, and the environment)
    /// and applies what can change while serving (`reload.rs`).
    pub async fn run_until_stopped(self, config_path: Option<PathBuf>) -> std::io::Result<()> {
        let stop = shutdown_signal()?;
        #[cfg(unix)]
        let reloads = {
            let started = self.settings.clone();
            let reloader = Reloader::new(config_path, started, self.reloadable.clone());
            tokio::spawn(reload::on_hangup(reloader)?)
        };
        #[cfg(not(unix))]
        let _ = config_path;
        let result = self.run_until(stop).await;
        #[cfg(unix)]
        reloads.abort();
        result
    }

    pub async fn run_until(self, stop: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let names = tokio::spawn(Arc::clone(&self.state.service).resolve_names());
        let cleanup = tokio::spawn(cleanup_loop(
            Arc::clone(&self.state.service),
            self.limiter,
            self.cleanup_interval,
        ));
        let backups = self.backups.map(|(db_path, schedule)| {
            tokio::spawn(backups::backup_loop(
                Arc::clone(&self.state.service),
                db_path,
                schedule,
            ))
        });
        let recheck = self.recheck_contract_sessions.map(|every| {
            tokio::spawn(Arc::clone(&self.state.service).recheck_contract_sessions_every(every))
        });
        // Where a newcomer goes next.
        let origin = &self.state.public_origin;
        tracing::info!(
            address = %self.local_addr,
            version = env!("CARGO_PKG_VERSION"),
            login_page = %format!("{origin}/login"),
            api_docs = %format!("{origin}/docs"),
            "listening"
        );
        let metrics_server = self.metrics.map(|(acceptor, addr)| {
            tracing::info!(address = %addr, "metrics listening");
            let app = metrics_app(Arc::clone(&self.state));
            tokio::spawn(Server::new_with_acceptor(acceptor).run(app))
        });
        let service = Arc::clone(&self.state.service);
        let app = app(self.state, self.middlewares, self.metrics_on_main);
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, stop, Some(self.shutdown_grace))
            .await;
        cleanup.abort();
        names.abort();
        if let Some(recheck) = recheck {
            recheck.abort();
        }
        if let Some(backups) = backups {
            backups.abort();
        }
        if let Some(server) = metrics_server {
            server.abort();
        }
        match service.db().finish_writes().await {
            Ok(()) => tracing::info!("stopped: every write committed, the WAL checkpointed"),
            Err(err) => {
                tracing::warn!(error = %err, "stopping: the last writes or checkpoint failed")
            }
        }
        result
    }
}

/// What every handler can reach, from the checked configuration.
fn app_state(
    config: &Config,
    service: Service,
    forward: ForwardAuthPolicy,
) -> anyhow::Result<AppState> {
    let service = Arc::new(service);
    Ok(AppState {
        pairings: Arc::new(crate::pairing::Pairings::new(
            Arc::clone(&service),
            config.pairing.clone(),
            config.server.public_origin.clone(),
        )),
        oidc: Arc::new(
            crate::oidc::Oidc::new(
                Arc::clone(&service),
                config.server.public_origin.clone(),
                config.oidc.clone(),
            )?
            .with_client_rate_limit(&config.rate_limit),
        ),
        service,
        cookie: SessionCookie::from_settings(&config.session),
        client_ip: ClientIpResolver::new(config.server.trusted_proxies.clone()),
        ui: UiConfigBody {
            app_name: config.ui.app_name.clone(),
            logo_url: config.ui.logo_url.clone(),
            accent_color: config.ui.accent_color.clone(),
            chain_ids: config.siwe.chain_ids.clone(),
            redirect_origins: config.return_origins(),
            email_enabled: config.email.smtp.is_some(),
            pairing: config.pairing.enabled,
        },
        catalogues: crate::i18n::Catalogues::embedded()?,
        forward: arc_swap::ArcSwap::from_pointee(forward),
        public_origin: config.server.public_origin.clone(),
    })
}

/// Binds a listener; `key` names the setting in the error.
async fn listen(addr: SocketAddr, key: &str) -> anyhow::Result<(TcpAcceptor, SocketAddr)> {
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .with_context(|| format!("cannot listen on {addr} ({key})"))?;
    let local = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .with_context(|| format!("the listener of {key} has no address"))?;
    Ok((acceptor, local))
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
        if let Err(err) = service.refresh_names().await {
            tracing::warn!(error = %err, "queueing expired ENS names failed");
        }
    }
}

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is
/// called, not when it is first polled: a SIGTERM right after "listening" was logged would
/// otherwise still kill the process without a graceful shutdown.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}

/// A configured duration as the service counts time (saturating; configured values are far
/// below the limit).
pub(crate) fn span(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}
