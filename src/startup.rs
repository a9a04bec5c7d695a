//! Builds the application from settings: secret, database, services, routes and the listener.

use std::{
    future::Future,
    io::Write,
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use poem::{
    endpoint::{make_sync, EmbeddedFileEndpoint, EmbeddedFilesEndpoint},
    get,
    http::{header, HeaderValue, Method, StatusCode},
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::CookieJarManager,
    web::{headers::ContentLength, headers::HeaderMapExt},
    Body, Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route, Server,
};
use rand::Rng;
use url::Url;

use crate::{
    api::{self, error::render_any_error, AppState, SessionCookie},
    assets::Assets,
    config::Settings,
    db::Db,
    domain::{siwe::SiwePolicy, token::Keys},
    service::AuthService,
};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long a client may take to send its body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    cleanup_interval: Duration,
}

impl Application {
    /// Opens the database, loads or creates the secret, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let public_url = settings.public_url()?;
        let keys = Keys::from_secret(&load_or_create_secret(&settings)?);
        let db_settings = settings.database.clone();
        let db =
            tokio::task::spawn_blocking(move || Db::open(&db_settings.path, db_settings.pool_size))
                .await
                .context("database start-up task failed")??;
        let auth = AuthService::new(
            db,
            policy_from(&settings, &public_url)?,
            keys,
            time::Duration::seconds(settings.session.ttl_secs as i64),
            domain_of(&public_url),
            public_url.origin().ascii_serialization(),
            settings.siwe.statement.clone(),
        );
        let state = Arc::new(AppState {
            auth: Arc::new(auth),
            cookie: SessionCookie::from_settings(&settings),
        });
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
        Ok(Self {
            acceptor,
            local_addr,
            state,
            cleanup_interval: Duration::from_secs(settings.database.cleanup_interval_secs),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(self, stop: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let cleanup = tokio::spawn(cleanup_loop(
            Arc::clone(&self.state.auth),
            self.cleanup_interval,
        ));
        tracing::info!(address = %self.local_addr, "listening");
        let app = routes(Arc::clone(&self.state));
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, stop, Some(SHUTDOWN_GRACE))
            .await;
        cleanup.abort();
        result
    }
}

fn routes(state: Arc<AppState>) -> impl Endpoint {
    let api = api::service();
    let spec_yaml = api.spec_endpoint_yaml();
    let swagger = api.swagger_ui();
    let spec_json = api::spec_json();
    // The OpenAPI service routes by its own full paths, so it gets them unstripped.
    let api = Arc::new(api.into_endpoint());
    Route::new()
        .nest_no_strip("/api", Arc::clone(&api))
        .at("/healthz", api)
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(spec_json.clone())
            })),
        )
        .at("/openapi.yaml", spec_yaml)
        .nest("/docs", swagger)
        .at("/", EmbeddedFileEndpoint::<Assets>::new("index.html"))
        .nest("/assets", EmbeddedFilesEndpoint::<Assets>::new())
        .with(CookieJarManager::new())
        .around(limit_body)
        .catch_all_error(render_any_error)
        .around(common_headers)
        .around(log_request)
        .data(state)
}

/// Refuses bodies over the limit before reading them whole, and bodies that arrive too slowly.
async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>() {
        if len > MAX_BODY_BYTES as u64 {
            return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let body = req.take_body();
        let bytes = tokio::time::timeout(BODY_READ_TIMEOUT, body.into_bytes_limit(MAX_BODY_BYTES))
            .await
            .map_err(|_| poem::Error::from_status(StatusCode::REQUEST_TIMEOUT))?
            .map_err(|e| match e {
                poem::error::ReadBodyError::PayloadTooLarge => {
                    poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
                }
                other => poem::Error::new(other, StatusCode::BAD_REQUEST),
            })?;
        req.set_body(Body::from_bytes(bytes));
    }
    Ok(next.call(req).await?.into_response())
}

/// Headers every response carries; API answers are never cached.
async fn common_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let is_api = req.uri().path().starts_with("/api/");
    let mut resp = next.call(req).await?.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if is_api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

/// One line per request. The path is logged without its query, which may carry tokens.
async fn log_request<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let ip = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let resp = next.call(req).await?.into_response();
    tracing::info!(
        %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        client_ip = %ip,
        "request"
    );
    Ok(resp)
}

async fn cleanup_loop(auth: Arc<AuthService>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        match auth.delete_expired().await {
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

/// `security.secret`, or the key in `<data folder>/secret.key`, generated (mode 0600) on first start.
fn load_or_create_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.security.secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let dir = settings.data_dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
    let path = dir.join("secret.key");
    if !path.exists() {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        match create_private_file(&path) {
            Ok(mut file) => {
                file.write_all(hex::encode(secret).as_bytes())?;
                file.sync_all()?;
                tracing::info!(path = %path.display(), "generated a new secret key");
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the secret key {}", path.display()))?;
    let secret = hex::decode(text.trim())
        .with_context(|| format!("{} must hold the secret as hex", path.display()))?;
    if secret.len() < 32 {
        bail!(
            "{} holds fewer than 32 bytes; delete it to generate a new one",
            path.display()
        );
    }
    Ok(secret)
}

fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
