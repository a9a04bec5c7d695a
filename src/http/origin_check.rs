//! Cookie-authenticated state changes only from trusted origins (the CSRF defence in depth
//! beside the session's CSRF token).

use poem::{http::header, Endpoint, IntoResponse, Request, Response};

use super::{changes_state, error::error_response, state};
use crate::error::ErrorCode;

/// Refuses state-changing requests that carry the session cookie from a foreign Origin.
pub(super) async fn check_origin<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
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
