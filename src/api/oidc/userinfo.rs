//! `/oidc/userinfo` (OpenID Connect Core 5.3), GET and POST: the claims an access token's
//! scopes release. The token comes as `Authorization: Bearer`, or on POST as the form field
//! `access_token` (RFC 6750 section 2.2), never both. Refusals are 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 section 3).

use std::sync::Arc;

use poem::{http::header, web::Data, Request};
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::oauth::{OAuthError, OAuthForm};
use crate::{
    api::{ApiTags, AppState},
    domain::oidc::claims::UserClaims,
    error::{AppError, ErrorCode},
};

/// The claims about the person (only those the token's scopes release).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UserInfoBody {
    /// The subject: the account id, or the client's pairwise one.
    pub sub: String,
    /// With `profile`: the display name, else the primary address.
    pub preferred_username: Option<String>,
    /// With `profile`: as `preferred_username`.
    pub name: Option<String>,
    /// With `profile` or `wallets`: the primary wallet (EIP-55).
    pub eth_address: Option<String>,
    /// With `profile` or `wallets`: every linked wallet (EIP-55), the primary first.
    pub wallets: Option<Vec<String>>,
    /// With `email`, when the account has one.
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

impl From<UserClaims> for UserInfoBody {
    fn from(c: UserClaims) -> Self {
        Self {
            sub: c.sub,
            preferred_username: c.preferred_username,
            name: c.name,
            eth_address: c.eth_address,
            wallets: c.wallets,
            email: c.email,
            email_verified: c.email_verified,
        }
    }
}

#[derive(ApiResponse)]
pub enum UserInfoResponse {
    /// The claims.
    #[oai(status = 200)]
    Ok(Json<UserInfoBody>, #[oai(header = "Cache-Control")] String),
}

/// The form of a POST (RFC 6750 section 2.2).
#[derive(Debug, Clone, Default, Object, Deserialize)]
pub struct AccessTokenForm {
    /// The access token, when it is not in the Authorization header.
    pub access_token: Option<String>,
}

/// The bearer token of the request: the header's or the form's, not both.
fn access_token(req: &Request, form: Option<String>) -> Result<String, AppError> {
    let header = req.header(header::AUTHORIZATION).map(|value| {
        let value = value.trim();
        value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string())
    });
    match (header, form) {
        (Some(_), Some(_)) => Err(AppError::new(
            ErrorCode::InvalidRequest,
            "Send the access token one way: the Authorization header or the form, not both.",
        )),
        (Some(Some(token)), None) | (None, Some(token)) => Ok(token),
        (Some(None), None) => Err(AppError::new(
            ErrorCode::InvalidToken,
            "The Authorization header must be Bearer with the access token.",
        )),
        (None, None) => Err(AppError::new(
            ErrorCode::Unauthenticated,
            "Send the access token as Authorization: Bearer <token>.",
        )),
    }
}

async fn userinfo(
    state: &AppState,
    req: &Request,
    form: Option<String>,
) -> Result<UserInfoResponse, OAuthError> {
    let token = access_token(req, form).map_err(OAuthError::bearer)?;
    let claims = state
        .oidc
        .userinfo(&token)
        .await
        .map_err(OAuthError::bearer)?;
    Ok(UserInfoResponse::Ok(Json(claims.into()), "no-store".into()))
}

pub struct UserInfoApi;

#[OpenApi(prefix_path = "/oidc", tag = "ApiTags::OpenIdConnect")]
impl UserInfoApi {
    /// Userinfo
    ///
    /// The claims about the person that the access token's scopes release, from the account
    /// as it is now: `sub`; with `profile` `preferred_username`, `name`, `eth_address`,
    /// `wallets`; with `wallets` `eth_address`, `wallets`; with `email` `email`,
    /// `email_verified`. Errors: 401 `invalid_token` (with `WWW-Authenticate: Bearer`).
    #[oai(path = "/userinfo", method = "get", operation_id = "oidcUserinfo")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<UserInfoResponse, OAuthError> {
        userinfo(&state, req, None).await
    }

    /// Userinfo (POST)
    ///
    /// As GET; the access token may also come as the form field `access_token`. Errors: 400
    /// `invalid_request` (the token sent two ways); 401 `invalid_token`.
    #[oai(path = "/userinfo", method = "post", operation_id = "oidcUserinfoPost")]
    async fn post(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: OAuthForm<AccessTokenForm, false>,
    ) -> Result<UserInfoResponse, OAuthError> {
        userinfo(&state, req, form.0.access_token).await
    }
}
