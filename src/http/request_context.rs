//! Each request's id and client address, its span, its log line and its metrics.

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Instant,
};

use poem::{
    http::{HeaderValue, Method},
    Endpoint, IntoResponse, Request, Response,
};
use tracing::Instrument;

use super::{allowed_methods::AllowedMethods, state};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every request carries once it is in: its id and the client's address.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub id: String,
    pub client_ip: IpAddr,
    /// The client used https to reach us (through a trusted proxy; we do not terminate TLS).
    pub https: bool,
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
pub(super) async fn request_context<E: Endpoint>(
    next: E,
    mut req: Request,
) -> poem::Result<Response> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
