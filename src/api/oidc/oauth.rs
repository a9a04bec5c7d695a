//! OAuth 2.0's ways at the client-authenticated endpoints: form bodies (each parameter once,
//! RFC 6749 section 3.1), client authentication (HTTP Basic with the id and secret each
//! form-urlencoded first, section 2.3.1; or `client_id` and `client_secret` in the form; or a
//! public client's `client_id` alone) and errors (section 5.2: `error`, `error_description`,
//! plus this API's `message`; `no-store`).

use std::borrow::Cow;

use base64::{engine::general_purpose::STANDARD, Engine};
use poem::{http::header, Request, RequestBody};
use poem_openapi::{
    payload::Json,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object,
};
use serde::de::DeserializeOwned;

use crate::{
    api::error::OVERLOADED_RETRY_SECS,
    error::{AppError, ErrorCode},
    http::error::{status_of, ErrorBody},
    oidc::clients::{ClientAuthMethod, ClientCredentials},
};

/// Token responses must not be stored by any cache (RFC 6749 section 5.1).
pub const NO_STORE: &str = "no-store";
pub const NO_CACHE: &str = "no-cache";
/// What a client that failed to authenticate is told to use (RFC 6749 section 5.2).
pub const BASIC_CHALLENGE: &str = "Basic realm=\"siwe-server\"";

/// An OAuth 2.0 error (RFC 6749 section 5.2) with this API's `message`.
#[derive(Debug, Clone, Object)]
pub struct OAuthErrorBody {
    pub error: ErrorCode,
    /// The same sentence as `message`, under the name OAuth clients read.
    pub error_description: String,
    /// A sentence for people; wording may change.
    pub message: String,
}

impl From<&AppError> for OAuthErrorBody {
    fn from(err: &AppError) -> Self {
        Self {
            error: err.code(),
            error_description: err.public_message().to_string(),
            message: err.public_message().to_string(),
        }
    }
}

/// The errors of the client-authenticated endpoints.
#[derive(Debug, ApiResponse)]
pub enum OAuthError {
    /// The request is malformed or the grant is refused: `invalid_request` (a parameter
    /// missing, repeated or of the wrong form, two ways of client authentication),
    /// `invalid_grant` (the code or refresh token is unknown, expired, used before, another
    /// client's, or its redirect URI or PKCE verifier does not match), `invalid_scope` (a
    /// refresh asked for more than was granted), `unsupported_grant_type`.
    #[oai(status = 400)]
    BadRequest(
        Json<OAuthErrorBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `invalid_client` (with `WWW-Authenticate: Basic`): the client is unknown, its secret is
    /// wrong or missing, a public client sent a secret or asked for introspection. At userinfo
    /// (with `WWW-Authenticate: Bearer`): no access token, or `invalid_token` (malformed,
    /// expired, revoked or not one of this server).
    #[oai(status = 401)]
    Unauthorized(
        Json<OAuthErrorBody>,
        #[oai(header = "WWW-Authenticate")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// Too many requests from this client address or for this client id (`rate_limited`);
    /// retry after the number of seconds in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// The server failed (`internal`); the cause is logged.
    #[oai(status = 500)]
    Internal(Json<OAuthErrorBody>),
    /// The database is unavailable (`unavailable`) or the server too busy (`overloaded`;
    /// retry after `Retry-After`).
    #[oai(status = 503)]
    Unavailable(
        Json<OAuthErrorBody>,
        #[oai(header = "Retry-After")] Option<u64>,
    ),
    /// Refused before the body was read: it took over 10 seconds (`request_timeout`)...
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// ...or it is over the size limit (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
}

const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// Whether a Content-Type names a form (parameters after `;` aside).
pub fn is_form_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(FORM_TYPE))
}

/// Whether the request's body is a form.
fn is_form(req: &Request) -> bool {
    req.content_type().is_some_and(is_form_type)
}

/// A form body read by OAuth's rules: its Content-Type, each parameter once, refusals as
/// OAuth errors. Unless `REQUIRED`, a request without a form body reads as `T::default()` (a
/// userinfo POST may carry its token in the header alone).
pub struct OAuthForm<T, const REQUIRED: bool = true>(pub T);

impl<'a, T: Type + DeserializeOwned + Default, const REQUIRED: bool> ApiExtractor<'a>
    for OAuthForm<T, REQUIRED>
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: FORM_TYPE,
                schema: T::schema_ref(),
            }],
            required: REQUIRED,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let refuse = |message: Cow<'static, str>| {
            poem::Error::from(OAuthError::from(AppError::new(
                ErrorCode::InvalidRequest,
                message,
            )))
        };
        if !is_form(req) {
            if !REQUIRED {
                return Ok(Self(T::default()));
            }
            return Err(refuse(
                "The body must be a form: Content-Type application/x-www-form-urlencoded.".into(),
            ));
        }
        let data = body.take()?.into_vec().await?;
        let mut fields = serde_json::Map::new();
        for (name, value) in url::form_urlencoded::parse(&data) {
            if fields
                .insert(name.to_string(), value.into_owned().into())
                .is_some()
            {
                return Err(refuse(format!("The parameter {name} is repeated.").into()));
            }
        }
        serde_json::from_value(fields.into())
            .map(Self)
            .map_err(|_| refuse("The form is malformed.".into()))
    }
}

/// The challenge of a userinfo request that carried no token (RFC 6750 section 3.1).
const BEARER_CHALLENGE: &str = "Bearer realm=\"siwe-server\"";
/// The challenge of a userinfo request whose token was refused.
const INVALID_TOKEN_CHALLENGE: &str = "Bearer realm=\"siwe-server\", error=\"invalid_token\"";

impl OAuthError {
    /// The error of a bearer-token request (RFC 6750 section 3): a refused or missing token is
    /// 401 with a Bearer challenge.
    pub fn bearer(err: AppError) -> Self {
        let challenge = match err.code() {
            ErrorCode::InvalidToken => INVALID_TOKEN_CHALLENGE,
            ErrorCode::Unauthenticated => BEARER_CHALLENGE,
            _ => return err.into(),
        };
        Self::Unauthorized(
            Json(OAuthErrorBody::from(&err)),
            challenge.into(),
            NO_STORE.into(),
            NO_CACHE.into(),
        )
    }
}

impl From<AppError> for OAuthError {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let body = Json(OAuthErrorBody::from(&err));
        match status_of(err.code()).as_u16() {
            400 => Self::BadRequest(body, NO_STORE.into(), NO_CACHE.into()),
            401 => Self::Unauthorized(
                body,
                BASIC_CHALLENGE.into(),
                NO_STORE.into(),
                NO_CACHE.into(),
            ),
            429 => Self::TooManyRequests(
                Json(ErrorBody {
                    error: err.code(),
                    message: err.public_message().to_string(),
                }),
                60,
            ),
            503 => {
                let retry_after =
                    (err.code() == ErrorCode::Overloaded).then_some(OVERLOADED_RETRY_SECS);
                Self::Unavailable(body, retry_after)
            }
            _ => Self::Internal(body),
        }
    }
}

pub fn invalid_request(message: &'static str) -> AppError {
    AppError::new(ErrorCode::InvalidRequest, message)
}

/// Reverses application/x-www-form-urlencoded (`+` is a space, `%XX` a byte).
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The id and secret of `Authorization: Basic`, if the header is there.
fn basic_credentials(req: &Request) -> Result<Option<(String, String)>, AppError> {
    let Some(value) = req.header(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || {
        AppError::new(
            ErrorCode::InvalidClient,
            "Authorization must be Basic with base64 of the form-urlencoded client id, ':' and the form-urlencoded secret.",
        )
    };
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
    match (form_decode(id), form_decode(secret)) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        _ => Err(invalid()),
    }
}

/// How the client authenticates: Basic, the form's `client_secret`, or none; using two ways
/// at once is refused (RFC 6749 section 2.3).
pub fn client_credentials(
    req: &Request,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<ClientCredentials, AppError> {
    match (basic_credentials(req)?, client_secret) {
        (Some(_), Some(_)) => Err(invalid_request(
            "Authenticate the client one way: Basic or client_secret in the form, not both.",
        )),
        (Some((id, secret)), None) => {
            if client_id.as_ref().is_some_and(|form_id| *form_id != id) {
                return Err(invalid_request(
                    "client_id in the form is not the client of the Authorization header.",
                ));
            }
            Ok(ClientCredentials {
                client_id: Some(id),
                secret: Some(secret),
                method: ClientAuthMethod::Basic,
            })
        }
        (None, Some(secret)) => Ok(ClientCredentials {
            client_id,
            secret: Some(secret),
            method: ClientAuthMethod::Post,
        }),
        (None, None) => Ok(ClientCredentials {
            client_id,
            secret: None,
            method: ClientAuthMethod::None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn form_decoding_reverses_plus_and_percent() {
        assert_eq!(form_decode("a+b%3A%2Bc").as_deref(), Some("a b:+c"));
        assert_eq!(form_decode("plain").as_deref(), Some("plain"));
        assert_eq!(form_decode("bad%zz"), None);
        assert_eq!(form_decode("cut%4"), None);
    }
}
