//! One error type for the service and storage layers: a stable code, a message that is safe to
//! show, and (for internal failures) a hidden cause that is only logged.

use std::borrow::Cow;

use poem_openapi::Enum;

/// A stable code to branch on; every error code a client can receive. (The HTTP status for
/// each lives in `api::error`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    InvalidMessage,
    InvalidSignatureFormat,
    InvalidSignature,
    InvalidNonce,
    DomainMismatch,
    UriMismatch,
    ChainNotAllowed,
    MessageExpired,
    MessageNotYetValid,
    IssuedAtInvalid,
    InvalidAddress,
    InvalidToken,
    InvalidAudience,
    Unauthenticated,
    CsrfInvalid,
    OriginNotAllowed,
    ReauthenticationRequired,
    AccessDenied,
    RateLimited,
    WalletNotFound,
    SessionNotFound,
    WalletAlreadyLinked,
    WalletAlreadyYours,
    LastSignInMethod,
    EmailInUse,
    NotFound,
    MethodNotAllowed,
    EmailUnavailable,
    Unavailable,
    Overloaded,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::InvalidMessage => "invalid_message",
            Self::InvalidSignatureFormat => "invalid_signature_format",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidNonce => "invalid_nonce",
            Self::DomainMismatch => "domain_mismatch",
            Self::UriMismatch => "uri_mismatch",
            Self::ChainNotAllowed => "chain_not_allowed",
            Self::MessageExpired => "message_expired",
            Self::MessageNotYetValid => "message_not_yet_valid",
            Self::IssuedAtInvalid => "issued_at_invalid",
            Self::InvalidAddress => "invalid_address",
            Self::InvalidToken => "invalid_token",
            Self::InvalidAudience => "invalid_audience",
            Self::Unauthenticated => "unauthenticated",
            Self::CsrfInvalid => "csrf_invalid",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::ReauthenticationRequired => "reauthentication_required",
            Self::AccessDenied => "access_denied",
            Self::RateLimited => "rate_limited",
            Self::WalletNotFound => "wallet_not_found",
            Self::SessionNotFound => "session_not_found",
            Self::WalletAlreadyLinked => "wallet_already_linked",
            Self::WalletAlreadyYours => "wallet_already_yours",
            Self::LastSignInMethod => "last_sign_in_method",
            Self::EmailInUse => "email_in_use",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::EmailUnavailable => "email_unavailable",
            Self::Unavailable => "unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A failure the client caused or must know about; the message is shown as is.
    #[error("{code:?}: {message}")]
    Client {
        code: ErrorCode,
        message: Cow<'static, str>,
    },
    /// A failure of ours (database, I/O); the cause is logged, never shown.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Client {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The text a client may see.
    pub fn public_message(&self) -> &str {
        match self {
            Self::Client { message, .. } => message,
            Self::Internal(_) => "The server failed to handle this request; it has been logged.",
        }
    }

    /// A queue or pool is full: the client should retry shortly (503 with `Retry-After`).
    pub fn overloaded() -> Self {
        Self::new(
            ErrorCode::Overloaded,
            "The server is busy; retry after the number of seconds in Retry-After.",
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "You are not signed in, or your session has expired or been ended.",
        )
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("database query failed"))
    }
}

impl From<r2d2::Error> for AppError {
    fn from(err: r2d2::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("no database connection available"))
    }
}

pub type AppResult<T> = Result<T, AppError>;
