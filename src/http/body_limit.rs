//! The size limit and read deadline of request bodies: a body over the limit is refused before it
//! is read whole, and one that arrives too slowly is dropped.

use std::time::Duration;

use poem::{
    http::StatusCode,
    web::headers::{ContentLength, HeaderMapExt},
    Body, Endpoint, IntoResponse, Request, Response,
};

use super::{changes_state, Around};

/// Largest request body accepted, but for the room a signature takes (see
/// [`BodyLimit::admitting_signatures`]).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long a client may take to send its body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the body of state-changing requests within the limits (413, 408 otherwise), so
/// handlers get it whole.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    max_bytes: usize,
    read_timeout: Duration,
}

impl Default for BodyLimit {
    fn default() -> Self {
        Self {
            max_bytes: MAX_BODY_BYTES,
            read_timeout: BODY_READ_TIMEOUT,
        }
    }
}

impl BodyLimit {
    /// Room for a signature of `max_signature_bytes` (as hex, two digits a byte, and `0x`) on
    /// top of [`MAX_BODY_BYTES`], which a message and the rest of any body fit in: a wallet
    /// contract's signature may be far longer than a key's 65 bytes.
    pub fn admitting_signatures(max_signature_bytes: usize) -> Self {
        Self {
            max_bytes: MAX_BODY_BYTES + 2 + 2 * max_signature_bytes,
            ..Self::default()
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Around for BodyLimit {
    async fn around<E: Endpoint>(&self, inner: &E, mut req: Request) -> poem::Result<Response> {
        let BodyLimit {
            max_bytes,
            read_timeout,
        } = *self;
        if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>() {
            if len > max_bytes as u64 {
                return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
            }
        }
        if changes_state(req.method()) {
            let body = req.take_body();
            let bytes = tokio::time::timeout(read_timeout, body.into_bytes_limit(max_bytes))
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
        Ok(inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use poem::{endpoint::make, http::Method, EndpointExt};

    use super::*;

    /// The status a POST with `body` (and `Content-Length`, when given) gets under an 8-byte limit.
    async fn status(body: Body, content_length: Option<&str>) -> StatusCode {
        let app = make(|mut req: Request| async move {
            req.take_body().into_string().await.unwrap_or_default()
        })
        .with(BodyLimit {
            max_bytes: 8,
            read_timeout: Duration::from_millis(200),
        });
        let mut req = Request::builder().method(Method::POST);
        if let Some(len) = content_length {
            req = req.header("content-length", len);
        }
        match app.call(req.body(body)).await {
            Ok(resp) => resp.status(),
            Err(err) => err.status(),
        }
    }

    #[tokio::test]
    async fn bodies_within_the_limits_pass() {
        assert_eq!(status(Body::from("12345678"), None).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn large_bodies_are_refused_with_or_without_a_length() {
        for len in [Some("9"), None] {
            assert_eq!(
                status(Body::from("123456789"), len).await,
                StatusCode::PAYLOAD_TOO_LARGE
            );
        }
    }

    #[test]
    fn the_limit_admits_the_largest_signature_and_a_message() {
        let limit = BodyLimit::admitting_signatures(8192);
        let signature = format!("0x{}", "ab".repeat(8192));
        let body = serde_json::json!({ "message": "m".repeat(MAX_BODY_BYTES - 64), "signature": signature });
        assert!(body.to_string().len() <= limit.max_bytes());
        assert!(limit.max_bytes() < 64 * 1024);
    }

    #[tokio::test]
    async fn slow_bodies_time_out() {
        let (_sender, never) = tokio::io::duplex(1);
        assert_eq!(
            status(Body::from_async_read(never), None).await,
            StatusCode::REQUEST_TIMEOUT
        );
    }
}
