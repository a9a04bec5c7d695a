//! A panic in a handler answers 500 in the usual JSON shape instead of dropping the connection.

use poem::Response;

use super::error::error_response;
use crate::error::ErrorCode;

/// A bug must not drop the connection: answer 500 in the usual shape (the panic is logged by
/// the panic hook).
pub(super) fn panic_response(_: Box<dyn std::any::Any + Send>) -> Response {
    error_response(
        ErrorCode::Internal,
        "The server failed to handle this request; it has been logged.",
    )
}
