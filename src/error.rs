//! One error type for the service and storage layers: a stable code, a message that is safe to
//! show, and (for internal failures) a hidden cause that is only logged.

use std::borrow::Cow;

use poem_openapi::Enum;

/// Declares `ErrorCode` from one table: each variant with the exact string a client receives,
/// which is both its name in the OpenAPI document (`#[oai(rename)]`) and what `as_str` returns,
/// and `ALL`, every variant.
macro_rules! error_codes {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $code:tt,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        pub enum $name {
            $(#[oai(rename = $code)] $variant,)*
        }

        impl $name {
            /// Every code, in the table's order (for tests that walk them all).
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    /// A stable code to branch on; every error code a client can receive. (The HTTP status for
    /// each lives in `api::error`.)
    pub enum ErrorCode {
        InvalidRequest = "invalid_request",
        PayloadTooLarge = "payload_too_large",
        RequestTimeout = "request_timeout",
        InvalidMessage = "invalid_message",
        InvalidSignatureFormat = "invalid_signature_format",
        InvalidSignature = "invalid_signature",
        ContractWalletUnsupported = "contract_wallet_unsupported",
        ChainUnavailable = "chain_unavailable",
        InvalidNonce = "invalid_nonce",
        DomainMismatch = "domain_mismatch",
        UriMismatch = "uri_mismatch",
        ChainNotAllowed = "chain_not_allowed",
        MessageExpired = "message_expired",
        MessageNotYetValid = "message_not_yet_valid",
        IssuedAtInvalid = "issued_at_invalid",
        InvalidAddress = "invalid_address",
        InvalidToken = "invalid_token",
        InvalidAudience = "invalid_audience",
        InvalidClient = "invalid_client",
        InvalidGrant = "invalid_grant",
        UnsupportedGrantType = "unsupported_grant_type",
        Unauthenticated = "unauthenticated",
        CsrfInvalid = "csrf_invalid",
        OriginNotAllowed = "origin_not_allowed",
        ReauthenticationRequired = "reauthentication_required",
        AccessDenied = "access_denied",
        InvalidScope = "invalid_scope",
        UnsupportedResponseType = "unsupported_response_type",
        RequestNotSupported = "request_not_supported",
        LoginRequired = "login_required",
        ConsentRequired = "consent_required",
        RateLimited = "rate_limited",
        WalletNotFound = "wallet_not_found",
        SessionNotFound = "session_not_found",
        AppNotFound = "app_not_found",
        PairingNotFound = "pairing_not_found",
        PairingExpired = "pairing_expired",
        PairingDeclined = "pairing_declined",
        PairingUsed = "pairing_used",
        PairingNotApproved = "pairing_not_approved",
        InvalidPairingSecret = "invalid_pairing_secret",
        PairingCapacity = "pairing_capacity",
        WalletAlreadyLinked = "wallet_already_linked",
        WalletAlreadyYours = "wallet_already_yours",
        LastSignInMethod = "last_sign_in_method",
        EmailInUse = "email_in_use",
        NotFound = "not_found",
        MethodNotAllowed = "method_not_allowed",
        EmailUnavailable = "email_unavailable",
        Unavailable = "unavailable",
        Overloaded = "overloaded",
        StorageUnavailable = "storage_unavailable",
        Internal = "internal",
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

    /// The same error again, for each of several requests that one failure ended (an internal
    /// cause keeps its text; it is logged once, where it happened).
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Client { code, message } => Self::new(*code, message.clone()),
            Self::Internal(cause) => Self::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            ErrorCode::Unauthenticated,
            "You are not signed in, or your session has expired or been ended.",
        )
    }
}

pub type AppResult<T> = Result<T, AppError>;
