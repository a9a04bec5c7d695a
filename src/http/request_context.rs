//! Each request's id, its span, its log line and its metrics.

use std::{sync::Arc, time::Instant};

use poem::{
    http::{HeaderValue, Method},
    Endpoint, IntoResponse, Request, Response,
};
use tracing::Instrument;

use super::{allowed_methods::AllowedMethods, client_address::ClientAddress, Around};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Gives each request an id (a trusted proxy's, or a new one), runs it in a span carrying the
/// id, echoes the id in `X-Request-Id`, counts it in the metrics and writes one log line. Needs
/// the [`ClientAddress`] stored outside it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    labels: Arc<RouteLabels>,
}

impl RequestContext {
    pub fn new(labels: RouteLabels) -> Self {
        Self {
            labels: Arc::new(labels),
        }
    }
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

impl Around for RequestContext {
    /// The path is logged without its query, which may hold tokens.
    async fn around<E: Endpoint>(&self, inner: &E, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let client = ClientAddress::of(&req);
        let id = client
            .via_trusted_proxy
            .then(|| forwarded_request_id(&req))
            .flatten()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let method = req.method().clone();
        // Shares the request's bytes: no copy of the path on every request.
        let uri = req.uri().clone();
        let path = uri.path();
        let span = tracing::info_span!("request", request_id = %id);
        let mut resp = inner
            .call(req)
            .instrument(span.clone())
            .await?
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        if let Some(m) = crate::metrics::metrics() {
            let route = self.labels.label(path);
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
                client_ip = %client.ip,
                "request"
            )
        });
        Ok(resp)
    }
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

/// The metrics' `route` label of a path: one of a fixed set, so clients cannot invent values.
#[derive(Debug, Default)]
pub struct RouteLabels {
    /// The API's path templates (`/api/wallets/{address}`), each its own label.
    pub api: Arc<AllowedMethods>,
    /// Other paths that are their own label.
    pub pages: &'static [&'static str],
    /// Folders whose every path below is labelled by the folder (`/assets/app.js` is `/assets`).
    pub folders: &'static [&'static str],
}

impl RouteLabels {
    /// A path template of the API, a page, a folder, or `unmatched`.
    fn label<'a>(&'a self, path: &str) -> &'a str {
        if let Some(template) = self.api.template_for(path) {
            return template;
        }
        if let Some(page) = self.pages.iter().find(|page| **page == path) {
            return page;
        }
        self.folders
            .iter()
            .find(|folder| {
                path.strip_prefix(**folder)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .map_or("unmatched", |folder| folder)
    }
}

#[cfg(test)]
mod tests {
    use poem::{endpoint::make_sync, EndpointExt};

    use super::*;

    #[test]
    fn metric_labels_are_a_fixed_set() {
        let labels = RouteLabels {
            api: Arc::new(AllowedMethods::from_spec(
                r#"{"paths": {"/api/wallets/{address}": {"delete": {}}}}"#,
            )),
            pages: &["/login", "/docs"],
            folders: &["/assets", "/docs"],
        };
        assert_eq!(labels.label("/api/wallets/0xabc"), "/api/wallets/{address}");
        assert_eq!(labels.label("/login"), "/login");
        assert_eq!(labels.label("/assets/app.js"), "/assets");
        assert_eq!(labels.label("/assets"), "unmatched");
        assert_eq!(labels.label("/docs"), "/docs");
        assert_eq!(labels.label("/docs/x"), "/docs");
        assert_eq!(labels.label("/docsX"), "unmatched");
        assert_eq!(labels.label("/random/junk"), "unmatched");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(method_label(&Method::from_bytes(b"FOO").unwrap()), "other");
    }

    async fn request_id(via_trusted_proxy: bool, sent: &str) -> String {
        let app = make_sync(|_| "ok").with(RequestContext::new(RouteLabels::default()));
        let mut req = Request::builder().header(REQUEST_ID_HEADER, sent).finish();
        req.extensions_mut().insert(ClientAddress {
            ip: "192.0.2.1".parse().unwrap(),
            https: false,
            via_trusted_proxy,
        });
        let resp = app.call(req).await.unwrap();
        resp.header(REQUEST_ID_HEADER).unwrap().to_string()
    }

    #[tokio::test]
    async fn request_ids_come_from_trusted_proxies_only() {
        assert_eq!(request_id(true, "edge-42").await, "edge-42");
        let own = request_id(false, "edge-42").await;
        assert_eq!(own.len(), 32, "{own}");
        let unsafe_id = request_id(true, "a b").await;
        assert_eq!(unsafe_id.len(), 32, "{unsafe_id}");
    }
}
