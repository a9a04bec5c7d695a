//! The HTTP layer around the routes: request ids and logging, client addresses, security
//! headers, CORS, origin checks, per-IP rate limits and body limits.
//!
//! poem's own `Cors` and `RealIp` are not used: with an empty list `Cors` allows every origin and
//! refuses same-origin requests from unlisted origins, and `RealIp` believes headers any client
//! can send.

pub mod client_ip;
pub mod connections;
pub mod error;
pub mod ratelimit;
mod security_headers;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use poem::{
    endpoint::BoxEndpoint,
    http::{header, HeaderValue, Method, StatusCode},
    web::headers::{ContentLength, HeaderMapExt},
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response,
};
use tracing::Instrument;

pub use client_ip::ClientIpResolver;
pub use ratelimit::{Policy, RateLimiter};
pub use security_headers::SecurityHeaders;

use crate::{api::AppState, error::ErrorCode};
use error::{error_response, render_any_error};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long a client may take to send its body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Everything the HTTP layer needs, built once from the settings.
pub struct HttpPolicy {
    pub client_ip: ClientIpResolver,
    pub limiter: RateLimiter,
    /// Origins that get credentialed CORS answers (`cors.allowed_origins`).
    pub cors_origins: Vec<String>,
    /// Origins whose cookie-authenticated state changes are accepted (public_url's + CORS ones).
    pub trusted_origins: Vec<String>,
    pub headers: SecurityHeaders,
    /// The methods each API path answers, for the `Allow` header of a 405.
    pub allowed_methods: AllowedMethods,
}

/// The methods of every path template of an OpenAPI document (`/api/wallets/{address}`).
#[derive(Debug, Default)]
pub struct AllowedMethods {
    templates: Vec<PathTemplate>,
}

#[derive(Debug)]
struct PathTemplate {
    path: String,
    segments: Vec<String>,
    methods: String,
}

impl AllowedMethods {
    pub fn from_spec(spec_json: &str) -> Self {
        let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
        let templates = spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, item)| {
                        let mut methods: Vec<String> = item
                            .as_object()
                            .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                            .unwrap_or_default();
                        if methods.iter().any(|m| m == "GET")
                            && !methods.iter().any(|m| m == "HEAD")
                        {
                            methods.push("HEAD".into());
                        }
                        PathTemplate {
                            path: path.clone(),
                            segments: path.split('/').map(str::to_string).collect(),
                            methods: methods.join(", "),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { templates }
    }

    /// `Allow` for a request path; a `{name}` segment matches any one segment.
    pub fn for_path(&self, path: &str) -> Option<&str> {
        self.find(path).map(|t| t.methods.as_str())
    }

    /// The spec's path template a request path matches, e.g. `/api/wallets/{address}`.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        self.find(path).map(|t| t.path.as_str())
    }

    fn find(&self, path: &str) -> Option<&PathTemplate> {
        let segments: Vec<&str> = path.split('/').collect();
        self.templates.iter().find(|template| {
            template.segments.len() == segments.len()
                && template.segments.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                })
        })
    }
}

/// What every request carries once it is in: its id and the client's address.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub id: String,
    pub client_ip: IpAddr,
    /// The client used https to reach us (through a trusted proxy; we do not terminate TLS).
    pub https: bool,
}

/// Wraps the routes in the middleware stack (outermost last). Each layer is boxed: nested
/// `around` types otherwise grow past the compiler's query depth.
pub fn wrap(routes: impl Endpoint + 'static, state: Arc<AppState>) -> BoxEndpoint<'static> {
    let inner = routes
        .around(limit_body)
        .map_to_response()
        .boxed()
        .around(rate_limit)
        .map_to_response()
        .boxed()
        .around(check_origin)
        .with(poem::middleware::CookieJarManager::new())
        .with(poem::middleware::CatchPanic::new().with_handler(panic_response))
        .catch_all_error(render_any_error)
        .boxed();
    inner
        .around(allow_header)
        .map_to_response()
        .boxed()
        .around(cors)
        .map_to_response()
        .boxed()
        .around(security_headers::apply)
        .map_to_response()
        .boxed()
        .around(request_context)
        .data(state)
        .map_to_response()
        .boxed()
}

/// A bug must not drop the connection: answer 500 in the usual shape (the panic is logged by
/// the panic hook).
fn panic_response(_: Box<dyn std::any::Any + Send>) -> Response {
    error_response(
        ErrorCode::Internal,
        "The server failed to handle this request; it has been logged.",
    )
}

fn state(req: &Request) -> Option<Arc<AppState>> {
    req.data::<Arc<AppState>>().cloned()
}

pub fn request_info(req: &Request) -> RequestInfo {
    req.extensions()
        .get::<RequestInfo>()
        .cloned()
        .unwrap_or(RequestInfo {
            id: String::new(),
            client_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            https: false,
        })
}

/// A request id a trusted proxy sent, if it is short and plain enough to log and echo.
fn forwarded_request_id(req: &Request) -> Option<String> {
    let id = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let plain = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    plain.then(|| id.to_string())
}

/// Assigns the request id and client address, runs the request in a span carrying both, and
/// writes one log line per request. The path is logged without its query, which may hold tokens.
async fn request_context<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let state_opt = state(&req);
    let (client_ip, id, https) = match &state_opt {
        Some(state) => {
            let resolver = &state.http.client_ip;
            let id = resolver
                .trusts(peer)
                .then(|| forwarded_request_id(&req))
                .flatten();
            let https = resolver.forwarded_https(peer, req.headers());
            (resolver.resolve(peer, req.headers()), id, https)
        }
        None => (peer, None, false),
    };
    let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestInfo {
        id: id.clone(),
        client_ip,
        https,
    });
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp = next
        .call(req)
        .instrument(span.clone())
        .await?
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if let (Some(m), Some(state)) = (crate::metrics::metrics(), state_opt.as_ref()) {
        let route = route_label(&state.http.allowed_methods, &path);
        m.requests
            .with_label_values(&[route, method_label(&method), resp.status().as_str()])
            .inc();
    }
    span.in_scope(|| {
        tracing::info!(
            %method,
            path = %path,
            status = resp.status().as_u16(),
            latency_ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
            client_ip = %client_ip,
            "request"
        )
    });
    Ok(resp)
}

/// The `method` label: a standard method or `other`, so clients cannot invent label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The `route` label: a path template of the API, one of the fixed pages, or `unmatched`.
fn route_label<'a>(allowed: &'a AllowedMethods, path: &str) -> &'a str {
    const PAGES: [&str; 7] = [
        "/",
        "/login",
        "/account",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/openapi.yaml",
    ];
    if let Some(template) = allowed.template_for(path) {
        return template;
    }
    if let Some(page) = PAGES.iter().find(|p| **p == path) {
        return page;
    }
    if path.starts_with("/assets/") {
        "/assets"
    } else if path == "/docs" || path.starts_with("/docs/") {
        "/docs"
    } else {
        "unmatched"
    }
}

/// RFC 9110: a 405 says which methods the resource does answer.
async fn allow_header<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let state = state(&req);
    let path = req.uri().path().to_string();
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(header::ALLOW)
    {
        let allowed = state
            .as_ref()
            .and_then(|s| s.http.allowed_methods.for_path(&path).map(str::to_string))
            .unwrap_or_else(|| "GET, HEAD".to_string());
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            resp.headers_mut().insert(header::ALLOW, value);
        }
    }
    Ok(resp)
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Credentialed CORS for the configured origins only; others get no CORS headers at all.
async fn cors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let allowed_origin = state(&req).and_then(|state| {
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
        state
            .http
            .cors_origins
            .iter()
            .any(|o| o == origin)
            .then(|| origin.to_string())
    });
    let is_preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = if is_preflight {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if allowed_origin.is_some() {
            let h = resp.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Content-Type, X-CSRF-Token, Authorization, X-Request-Id"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        resp
    } else {
        next.call(req).await?.into_response()
    };
    let h = resp.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed_origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After, X-Request-Id"),
        );
    }
    Ok(resp)
}

/// Refuses state-changing requests that carry the session cookie from a foreign Origin.
async fn check_origin<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if let Some(state) = state(&req) {
        let bearer = req.headers().contains_key(header::AUTHORIZATION);
        let has_cookie = req.cookie().get(state.cookie.name()).is_some();
        if changes_state(req.method()) && has_cookie && !bearer {
            if let Some(origin) = req.headers().get(header::ORIGIN) {
                let trusted = origin
                    .to_str()
                    .is_ok_and(|o| state.http.trusted_origins.iter().any(|t| t == o));
                if !trusted {
                    return Ok(error_response(
                        ErrorCode::OriginNotAllowed,
                        "Requests that use the session cookie are only accepted from this \
                         server's own origin and cors.allowed_origins.",
                    ));
                }
            }
        }
    }
    Ok(next.call(req).await?.into_response())
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
    ) || (method == Method::POST && path.starts_with("/api/wallets"));
    if auth {
        Some(Policy::Auth)
    } else if path == "/api/auth/forward" {
        // The proxy asks on every request it serves, from its own address.
        None
    } else if path.starts_with("/api/") {
        Some(Policy::Read)
    } else {
        None
    }
}

async fn rate_limit<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if let (Some(state), Some(policy)) = (state(&req), policy_for(req.method(), req.uri().path())) {
        let ip = request_info(&req).client_ip;
        if let Err(wait) = state.http.limiter.check(policy, ip) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::info!(client_ip = %ip, ?policy, retry_after = secs, "rate limited");
            if let Some(m) = crate::metrics::metrics() {
                let name = if policy == Policy::Auth {
                    "auth"
                } else {
                    "read"
                };
                m.rate_limited.with_label_values(&[name]).inc();
            }
            let mut resp = error_response(
                ErrorCode::RateLimited,
                format!("Too many requests from your address; try again in {secs} seconds."),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return Ok(resp);
        }
    }
    Ok(next.call(req).await?.into_response())
}

/// Refuses bodies over the limit before reading them whole, and bodies that arrive too slowly.
async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>() {
        if len > MAX_BODY_BYTES as u64 {
            return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
    }
    if changes_state(req.method()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_matches_path_templates() {
        let allowed = AllowedMethods::from_spec(
            r#"{"paths": {"/api/wallets": {"get": {}, "post": {}}, "/api/wallets/{address}": {"delete": {}},
                "/api/wallets/{address}/primary": {"post": {}}}}"#,
        );
        assert_eq!(allowed.for_path("/api/wallets"), Some("GET, POST, HEAD"));
        assert_eq!(allowed.for_path("/api/wallets/0xabc"), Some("DELETE"));
        assert_eq!(allowed.for_path("/api/wallets/0xabc/primary"), Some("POST"));
        assert_eq!(allowed.for_path("/api/wallets//primary"), None);
        assert_eq!(allowed.for_path("/elsewhere"), None);
    }

    #[test]
    fn metric_labels_are_a_fixed_set() {
        let allowed =
            AllowedMethods::from_spec(r#"{"paths": {"/api/wallets/{address}": {"delete": {}}}}"#);
        assert_eq!(
            route_label(&allowed, "/api/wallets/0xabc"),
            "/api/wallets/{address}"
        );
        assert_eq!(route_label(&allowed, "/login"), "/login");
        assert_eq!(route_label(&allowed, "/assets/app.js"), "/assets");
        assert_eq!(route_label(&allowed, "/docs/x"), "/docs");
        assert_eq!(route_label(&allowed, "/docsX"), "unmatched");
        assert_eq!(route_label(&allowed, "/random/junk"), "unmatched");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(method_label(&Method::from_bytes(b"FOO").unwrap()), "other");
    }

    #[test]
    fn policies_by_route() {
        assert_eq!(
            policy_for(&Method::GET, "/api/auth/nonce"),
            Some(Policy::Auth)
        );
        assert_eq!(
            policy_for(&Method::POST, "/api/auth/verify"),
            Some(Policy::Auth)
        );
        assert_eq!(
            policy_for(&Method::POST, "/api/wallets/challenge"),
            Some(Policy::Auth)
        );
        for path in [
            "/api/auth/reauthenticate",
            "/api/auth/reauthenticate/challenge",
        ] {
            assert_eq!(
                policy_for(&Method::POST, path),
                Some(Policy::Auth),
                "{path}"
            );
        }
        assert_eq!(
            policy_for(&Method::GET, "/api/auth/session"),
            Some(Policy::Read)
        );
        assert_eq!(policy_for(&Method::GET, "/api/wallets"), Some(Policy::Read));
        assert_eq!(policy_for(&Method::GET, "/healthz"), None);
        assert_eq!(policy_for(&Method::GET, "/docs"), None);
    }
}
