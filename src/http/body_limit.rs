//! The size limit and read deadline of request bodies.

use std::time::Duration;

use poem::{
    http::StatusCode,
    web::headers::{ContentLength, HeaderMapExt},
    Body, Endpoint, IntoResponse, Request, Response,
};

use super::changes_state;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long a client may take to send its body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Refuses bodies over the limit before reading them whole, and bodies that arrive too slowly.
pub(super) async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
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
