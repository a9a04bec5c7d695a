//! Errors as HTTP: the status for each code, the JSON body, and the catch-all that turns any other
//! failure (unknown route, unparsable body, oversized request) into the same shape. The API's
//! documented responses (`api::error::ApiError`) carry the same body.

use poem::{http::StatusCode, Response};
use poem_openapi::Object;

use crate::error::ErrorCode;

/// The body of every error response.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    // No doc comment here: it would wrap the reference in allOf, which some generators refuse.
    pub error: ErrorCode,
    /// A sentence for people; wording may change.
    pub message: String,
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        Self {
            error: ErrorCode::InvalidNonce,
            message:
                "The nonce is unknown, already used or expired; fetch a new nonce and sign again."
                    .into(),
        }
    }
}

/// The HTTP status of each error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        InvalidRequest
        | InvalidMessage
        | InvalidSignatureFormat
        | InvalidAddress
        | InvalidToken
        | InvalidAudience
        // Said to a client at its redirect URI, never as a status of ours.
        | InvalidScope
        | InvalidGrant
        | UnsupportedGrantType
        | UnsupportedResponseType
        | RequestNotSupported
        | LoginRequired
        | ConsentRequired => StatusCode::BAD_REQUEST,
        InvalidSignature | ContractWalletUnsupported | InvalidNonce | DomainMismatch | UriMismatch | ChainNotAllowed
        | MessageExpired | MessageNotYetValid | IssuedAtInvalid | Unauthenticated
        | InvalidClient => StatusCode::UNAUTHORIZED,
        CsrfInvalid | OriginNotAllowed | AccessDenied | ReauthenticationRequired
        | InvalidPairingSecret => StatusCode::FORBIDDEN,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        NotFound | WalletNotFound | SessionNotFound | AppNotFound | PairingNotFound => {
            StatusCode::NOT_FOUND
        }
        PairingExpired => StatusCode::GONE,
        WalletAlreadyLinked | WalletAlreadyYours | LastSignInMethod | EmailInUse
        | PairingDeclined | PairingUsed | PairingNotApproved => StatusCode::CONFLICT,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Unavailable | EmailUnavailable | Overloaded | ChainUnavailable | PairingCapacity
        | StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON error response for codes outside the documented `ApiError` statuses (404, 405).
pub fn error_response(code: ErrorCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: code,
        message: message.into(),
    };
    let json = serde_json::json!({ "error": body.error.as_str(), "message": body.message });
    // An error is about one request: no cache may keep it (the OpenID Connect endpoints
    // document no-store on every answer).
    Response::builder()
        .status(status_of(code))
        .content_type("application/json; charset=utf-8")
        .header(poem::http::header::CACHE_CONTROL, "no-store")
        .body(json.to_string())
}

/// Turns every error that is not already one of ours into the JSON error shape.
pub async fn render_any_error(err: poem::Error) -> Response {
    let status = err.status();
    // poem reports a matching ETag (304) as an error; it is an answer, not a failure.
    if err.is_from_response() || status.is_redirection() || status.is_success() {
        return err.into_response();
    }
    match status {
        StatusCode::NOT_FOUND => {
            error_response(ErrorCode::NotFound, "There is nothing at this path.")
        }
        StatusCode::METHOD_NOT_ALLOWED => error_response(
            ErrorCode::MethodNotAllowed,
            "This path does not answer that HTTP method.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => error_response(
            ErrorCode::PayloadTooLarge,
            "The request body is larger than this server accepts.",
        ),
        StatusCode::REQUEST_TIMEOUT => error_response(
            ErrorCode::RequestTimeout,
            "The request body did not arrive in time.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => error_response(
            ErrorCode::InvalidRequest,
            "The request body must be sent as this operation's media type: \
             application/json, or application/x-www-form-urlencoded for the OpenID Connect \
             endpoints.",
        ),
        s if s.is_client_error() => error_response(
            ErrorCode::InvalidRequest,
            format!("The request is malformed: {err}."),
        ),
        _ => {
            tracing::error!(status = status.as_u16(), error = %err, "request failed");
            error_response(
                ErrorCode::Internal,
                "The server failed to handle this request; it has been logged.",
            )
        }
    }
}
