//! A panic in a handler answers 500 in the usual JSON shape instead of dropping the connection
//! (the panic itself is logged by the panic hook).

use std::any::Any;

use poem::{
    middleware::{CatchPanic, CatchPanicEndpoint},
    Endpoint, Middleware, Response,
};

use super::error::error_response;
use crate::error::ErrorCode;

type PanicHandler = fn(Box<dyn Any + Send>) -> Response;

/// poem's `CatchPanic` with our error body.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicAsJson;

impl<E: Endpoint> Middleware<E> for CatchPanicAsJson {
    type Output = CatchPanicEndpoint<E, PanicHandler>;

    fn transform(&self, inner: E) -> Self::Output {
        CatchPanic::new()
            .with_handler(panic_response as PanicHandler)
            .transform(inner)
    }
}

fn panic_response(_: Box<dyn Any + Send>) -> Response {
    error_response(
        ErrorCode::Internal,
        "The server failed to handle this request; it has been logged.",
    )
}

#[cfg(test)]
mod tests {
    use poem::{endpoint::make_sync, EndpointExt, Request};

    use super::*;

    #[tokio::test]
    async fn a_panic_answers_500_as_json() {
        let app = make_sync(|_| -> &'static str { panic!("a bug") }).with(CatchPanicAsJson);
        let resp = app.call(Request::default()).await.unwrap();
        assert_eq!(resp.status(), 500);
        let body = resp.into_body().into_string().await.unwrap();
        assert!(body.contains(r#""error":"internal""#), "{body}");
    }
}
