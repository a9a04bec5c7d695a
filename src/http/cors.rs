//! Credentialed CORS for the configured origins (`cors.allowed_origins`) only; other origins get
//! no CORS headers at all.

use std::sync::Arc;

use arc_swap::ArcSwap;
use poem::{
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

use super::Around;

/// What a preflight from an allowed origin is told.
const PREFLIGHT_HEADERS: [(HeaderName, &str); 3] = [
    (
        header::ACCESS_CONTROL_ALLOW_METHODS,
        "GET, HEAD, POST, PUT, PATCH, DELETE",
    ),
    (
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        "Content-Type, X-CSRF-Token, Authorization, X-Request-Id",
    ),
    (header::ACCESS_CONTROL_MAX_AGE, "600"),
];

/// What every answer to an allowed origin carries besides `Access-Control-Allow-Origin`.
const ANSWER_HEADERS: [(HeaderName, &str); 2] = [
    (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"),
    (
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "Retry-After, X-Request-Id",
    ),
];

/// Answers preflights itself and marks the answers to the allowed origins. Clones share the
/// list, which [`Cors::reload`] replaces (SIGHUP).
#[derive(Debug, Clone)]
pub struct Cors {
    allowed_origins: Arc<ArcSwap<Vec<String>>>,
}

impl Cors {
    pub fn new(allowed_origins: Vec<String>) -> Self {
        Self {
            allowed_origins: Arc::new(ArcSwap::from_pointee(allowed_origins)),
        }
    }

    /// Allows `allowed_origins` from the next request on.
    pub fn reload(&self, allowed_origins: Vec<String>) {
        self.allowed_origins.store(Arc::new(allowed_origins));
    }
}

fn insert_all(resp: &mut Response, headers: impl IntoIterator<Item = (HeaderName, &'static str)>) {
    for (name, value) in headers {
        resp.headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
}

impl Around for Cors {
    async fn around<E: Endpoint>(&self, inner: &E, req: Request) -> poem::Result<Response> {
        let allowed_origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|origin| origin.to_str().ok())
            .filter(|origin| self.allowed_origins.load().iter().any(|o| o == origin))
            .map(str::to_string);
        let is_preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let mut resp = if is_preflight {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if allowed_origin.is_some() {
                insert_all(&mut resp, PREFLIGHT_HEADERS);
            }
            resp
        } else {
            inner.call(req).await?.into_response()
        };
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = allowed_origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
            resp.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            insert_all(&mut resp, ANSWER_HEADERS);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use poem::{endpoint::make_sync, EndpointExt};

    use super::*;

    fn app() -> impl Endpoint<Output = Response> {
        make_sync(|_| "ok").with(Cors::new(vec!["https://app.example".into()]))
    }

    fn from(origin: &str, method: Method) -> Request {
        Request::builder()
            .method(method)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .finish()
    }

    #[tokio::test]
    async fn allowed_origins_get_credentialed_answers() {
        let resp = app()
            .call(from("https://app.example", Method::GET))
            .await
            .unwrap();
        assert_eq!(
            resp.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://app.example")
        );
        assert_eq!(
            resp.header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        assert_eq!(resp.header(header::VARY), Some("Origin"));
        let preflight = app()
            .call(from("https://app.example", Method::OPTIONS))
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
        assert!(preflight
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS));
    }

    #[tokio::test]
    async fn other_origins_get_no_cors_headers() {
        for method in [Method::GET, Method::OPTIONS] {
            let resp = app()
                .call(from("https://evil.example", method))
                .await
                .unwrap();
            assert!(!resp
                .headers()
                .keys()
                .any(|name| name.as_str().starts_with("access-control-")));
            assert_eq!(resp.header(header::VARY), Some("Origin"));
        }
    }
}
