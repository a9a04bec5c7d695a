//! Cookie-authenticated state changes only from trusted origins (defence in depth beside the
//! session's CSRF token). Requests with a bearer token carry no ambient credential and pass.

use std::sync::Arc;

use arc_swap::ArcSwap;
use poem::{http::header, Endpoint, IntoResponse, Request, Response};

use super::{changes_state, error::error_response, Around};
use crate::error::ErrorCode;

/// Refuses state-changing requests that carry the session cookie from a foreign `Origin`.
/// Needs poem's `CookieJarManager` outside it. Clones share the origins, which
/// [`OriginCheck::reload`] replaces (SIGHUP).
#[derive(Debug, Clone)]
pub struct OriginCheck {
    session_cookie: Arc<str>,
    trusted_origins: Arc<ArcSwap<Vec<String>>>,
}

impl OriginCheck {
    /// `session_cookie` is the cookie's effective name; `trusted_origins` are public_url's origin
    /// and the CORS ones.
    pub fn new(session_cookie: &str, trusted_origins: Vec<String>) -> Self {
        Self {
            session_cookie: session_cookie.into(),
            trusted_origins: Arc::new(ArcSwap::from_pointee(trusted_origins)),
        }
    }

    /// Trusts `trusted_origins` from the next request on.
    pub fn reload(&self, trusted_origins: Vec<String>) {
        self.trusted_origins.store(Arc::new(trusted_origins));
    }

    fn refuses(&self, req: &Request) -> bool {
        let bearer = req.headers().contains_key(header::AUTHORIZATION);
        let has_cookie = req.cookie().get(&self.session_cookie).is_some();
        // The authorization endpoint's POST is the protocol's cross-site entry; it changes
        // nothing its GET would not.
        let authorize = req.uri().path() == "/oidc/authorize";
        if !changes_state(req.method()) || !has_cookie || bearer || authorize {
            return false;
        }
        req.headers().get(header::ORIGIN).is_some_and(|origin| {
            !origin
                .to_str()
                .is_ok_and(|o| self.trusted_origins.load().iter().any(|t| t == o))
        })
    }
}

impl Around for OriginCheck {
    async fn around<E: Endpoint>(&self, inner: &E, req: Request) -> poem::Result<Response> {
        if self.refuses(&req) {
            return Ok(error_response(
                ErrorCode::OriginNotAllowed,
                "Requests that use the session cookie are only accepted from this server's own \
                 origin and cors.allowed_origins.",
            ));
        }
        Ok(inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use poem::{
        endpoint::make_sync, http::Method, http::StatusCode, middleware::CookieJarManager,
        EndpointExt,
    };

    use super::*;

    async fn status(method: Method, headers: &[(&str, &str)]) -> StatusCode {
        let app = make_sync(|_| "ok")
            .with(OriginCheck::new("s", vec!["https://id.example".into()]))
            .with(CookieJarManager::new());
        let mut req = Request::builder().method(method);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        app.call(req.finish()).await.unwrap().status()
    }

    #[tokio::test]
    async fn foreign_cookie_state_changes_are_refused() {
        let foreign = [("cookie", "s=1"), ("origin", "https://evil.example")];
        assert_eq!(status(Method::POST, &foreign).await, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn others_pass() {
        let own = [("cookie", "s=1"), ("origin", "https://id.example")];
        assert_eq!(status(Method::POST, &own).await, StatusCode::OK);
        let read = [("cookie", "s=1"), ("origin", "https://evil.example")];
        assert_eq!(status(Method::GET, &read).await, StatusCode::OK);
        let bearer = [
            ("cookie", "s=1"),
            ("origin", "https://evil.example"),
            ("authorization", "Bearer t"),
        ];
        assert_eq!(status(Method::POST, &bearer).await, StatusCode::OK);
        let no_cookie = [("origin", "https://evil.example")];
        assert_eq!(status(Method::POST, &no_cookie).await, StatusCode::OK);
        let no_origin = [("cookie", "s=1")];
        assert_eq!(status(Method::POST, &no_origin).await, StatusCode::OK);
    }
}
