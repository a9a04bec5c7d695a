//! Credentialed CORS for the configured origins (`cors.allowed_origins`).

use poem::{
    http::{header, HeaderValue, Method, StatusCode},
    Endpoint, IntoResponse, Request, Response,
};

use super::state;

/// Credentialed CORS for the configured origins only; others get no CORS headers at all.
pub(super) async fn cors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
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
