//! The API's documented error responses: every error status an operation can answer with, each
//! carrying the JSON body of `http::error`.

use poem::http::StatusCode;
use poem_openapi::{payload::Json, ApiResponse};

use crate::{
    error::{AppError, ErrorCode},
    http::error::{status_of, ErrorBody},
};

/// Every error status the API can answer with; each operation's description lists its codes.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed: `invalid_request` (not JSON, fields missing or of the wrong type,
    /// wrong Content-Type, invalid values), `invalid_message` (not an EIP-4361 message),
    /// `invalid_signature_format` (not 65 bytes of hex), `invalid_address`, `invalid_token`
    /// (an emailed link that is used, expired or mistyped), `invalid_audience`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Not signed in (`unauthenticated`), or the signed message was not acceptable:
    /// `invalid_signature`, `contract_wallet_unsupported` (a contract wallet's signature on a chain
    /// this server has no RPC for), `invalid_nonce`, `domain_mismatch`, `uri_mismatch`, `chain_not_allowed`,
    /// `message_expired`, `message_not_yet_valid`, `issued_at_invalid`.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Refused as a possible cross-site request: the session's CSRF token is missing or wrong
    /// (`csrf_invalid`), or a cookie-authenticated request came from a foreign Origin
    /// (`origin_not_allowed`); or a sensitive change needs a recent signature
    /// (`reauthentication_required`); or a pairing's claim has the wrong secret
    /// (`invalid_pairing_secret`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such wallet (`wallet_not_found`), session (`session_not_found`) or connected app
    /// (`app_not_found`) on the account, or no such pairing (`pairing_not_found`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with the accounts as they are: `wallet_already_linked` (another
    /// account has the wallet), `wallet_already_yours`, `last_sign_in_method` (the account's
    /// only wallet), `email_in_use` (another account has verified the email), or a pairing
    /// that is not in the state the request needs (`pairing_declined`, `pairing_used`,
    /// `pairing_not_approved`).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The thing asked for existed but has ended: a pairing past its expiry (`pairing_expired`).
    #[oai(status = 410)]
    Gone(Json<ErrorBody>),
    /// The request body did not arrive within 10 seconds (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The request body is over the size limit (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Too many requests from this client address (`rate_limited`); retry after the number of
    /// seconds in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// The server failed (`internal`); the cause is logged.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database (`unavailable`) or the mail server (`email_unavailable`) is unavailable,
    /// or the server is too busy to take the request (`overloaded`: its queues are full), or no
    /// RPC endpoint of the message's chain answered in time to check a contract wallet's
    /// signature (`chain_unavailable`), or too many pairings are live (`pairing_capacity`);
    /// these say in `Retry-After` how many seconds to wait.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] Option<u64>),
}

/// What an `overloaded` answer asks the client to wait: queues drain in milliseconds.
pub const OVERLOADED_RETRY_SECS: u64 = 1;
/// What a `pairing_capacity` answer asks the client to wait: pairings end within minutes.
pub const PAIRING_CAPACITY_RETRY_SECS: u64 = 30;
/// What a `chain_unavailable` answer asks the client to wait: an RPC endpoint that failed
/// every try is rarely back within a second.
pub const CHAIN_UNAVAILABLE_RETRY_SECS: u64 = 5;
/// Retry-After of `storage_unavailable`: space comes back when someone frees it, or at the
/// next clean-up of expired rows.
pub const STORAGE_FULL_RETRY_SECS: u64 = 60;

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let code = err.code();
        let body = Json(ErrorBody {
            error: code,
            message: err.public_message().to_string(),
        });
        match status_of(code) {
            StatusCode::BAD_REQUEST => Self::BadRequest(body),
            StatusCode::UNAUTHORIZED => Self::Unauthorized(body),
            StatusCode::FORBIDDEN => Self::Forbidden(body),
            StatusCode::NOT_FOUND => Self::NotFound(body),
            StatusCode::CONFLICT => Self::Conflict(body),
            StatusCode::GONE => Self::Gone(body),
            StatusCode::REQUEST_TIMEOUT => Self::RequestTimeout(body),
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(body),
            StatusCode::TOO_MANY_REQUESTS => Self::TooManyRequests(body, 60),
            StatusCode::SERVICE_UNAVAILABLE => {
                let retry_after = match code {
                    ErrorCode::Overloaded => Some(OVERLOADED_RETRY_SECS),
                    ErrorCode::ChainUnavailable => Some(CHAIN_UNAVAILABLE_RETRY_SECS),
                    ErrorCode::PairingCapacity => Some(PAIRING_CAPACITY_RETRY_SECS),
                    ErrorCode::StorageUnavailable => Some(STORAGE_FULL_RETRY_SECS),
                    _ => None,
                };
                Self::Unavailable(body, retry_after)
            }
            _ => Self::Internal(body),
        }
    }
}
