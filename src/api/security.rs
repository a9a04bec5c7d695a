//! Who is calling: the session cookie (name from config) or an `Authorization: Bearer` token.
//! Cookie-authenticated requests that change state must carry the CSRF token, checked here so no
//! endpoint can forget it.

use std::sync::Arc;

use poem::{http::header, Request, RequestBody};
use poem_openapi::{
    registry::{MetaSecurityScheme, Registry},
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
};

use super::{error::ApiError, AppState};
use crate::{error::AppError, http::changes_state, service::Authenticated};

pub const CSRF_HEADER: &str = "X-CSRF-Token";
const COOKIE_SCHEME: &str = "SessionCookie";
const BEARER_SCHEME: &str = "BearerToken";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Cookie,
    Bearer,
}

/// A request made within a live session.
pub struct SessionAuth {
    pub current: Authenticated,
    pub method: AuthMethod,
}

fn fail(err: AppError) -> poem::Error {
    ApiError::from(err).into()
}

/// The session token and how it came, or `None` when the request carries neither.
fn presented_token(
    req: &Request,
    cookie_name: &str,
) -> Result<Option<(String, AuthMethod)>, AppError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(AppError::unauthenticated)?;
        return Ok(Some((token.to_string(), AuthMethod::Bearer)));
    }
    Ok(req
        .cookie()
        .get(cookie_name)
        .map(|c| (c.value_str().to_string(), AuthMethod::Cookie)))
}

/// How many cookies named `name` the request carries, over all its `Cookie` headers.
pub fn cookie_count(req: &Request, name: &str) -> usize {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter(|pair| pair.trim_start().split('=').next() == Some(name))
        .count()
}

impl<'a> ApiExtractor<'a> for SessionAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            COOKIE_SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(
                    "The HttpOnly session cookie set by POST /api/auth/verify. Its name is \
                     `session.cookie_name` (`siwe_session` by default), prefixed with `__Host-` \
                     when the cookie is Secure and `session.domain` is unset. State-changing \
                     requests must also send the session's CSRF token in X-CSRF-Token.",
                ),
                name: Some("siwe_session"),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
        registry.create_security_scheme(
            BEARER_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "The `token` from POST /api/auth/verify, as `Authorization: Bearer <token>`. \
                     No CSRF token is needed.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("opaque"),
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![COOKIE_SCHEME, BEARER_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        SessionAuth::from_request(req).await.map_err(fail)
    }
}

impl SessionAuth {
    /// Authenticates a request by bearer token or cookie; cookie-authenticated requests that
    /// change state must also carry the session's CSRF token.
    pub async fn from_request(req: &Request) -> Result<Self, AppError> {
        let state = req
            .data::<Arc<AppState>>()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))?;
        let (token, method) =
            presented_token(req, state.cookie.name())?.ok_or_else(AppError::unauthenticated)?;
        let current = state.service.authenticate(&token).await?;
        if method == AuthMethod::Cookie && changes_state(req.method()) {
            let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            state.service.check_csrf(&current.session.id, presented)?;
        }
        Ok(Self { current, method })
    }
}
