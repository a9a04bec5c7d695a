//! `/oidc/token`, `/oidc/revoke`, `/oidc/introspect`: the client-authenticated endpoints,
//! form bodies in, JSON out; forms, client authentication and errors by OAuth's rules
//! (`oauth.rs`).

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::oauth::{
    client_credentials, invalid_request, OAuthError, OAuthForm, NO_CACHE, NO_STORE,
};
use crate::{
    api::{client_info, ApiTags, AppState},
    error::{AppError, ErrorCode},
    oidc::{
        introspect::ActiveToken,
        token::{TokenGrant, Tokens},
    },
};

/// The token request (RFC 6749 sections 4.1.3 and 6). Every field is optional here so that a
/// missing one is answered as `invalid_request` by the endpoint, in OAuth's words.
#[derive(Debug, Clone, Default, Object, Deserialize)]
pub struct OidcTokenForm {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// The authorization code (`authorization_code`).
    pub code: Option<String>,
    /// The redirect URI of the authorization request (`authorization_code`; may be left out
    /// when the client has exactly one).
    pub redirect_uri: Option<String>,
    /// The PKCE verifier (`authorization_code`, when the request had a `code_challenge`).
    pub code_verifier: Option<String>,
    /// The refresh token (`refresh_token`).
    pub refresh_token: Option<String>,
    /// Fewer scopes than granted (`refresh_token`; space-separated).
    pub scope: Option<String>,
    /// The client id (`client_secret_post` and public clients).
    pub client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    pub client_secret: Option<String>,
}

/// A token to revoke or introspect (RFC 7009 section 2.1, RFC 7662 section 2.1).
#[derive(Debug, Clone, Default, Object, Deserialize)]
pub struct TokenHintForm {
    /// An access token or a refresh token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; both are tried whatever it says.
    pub token_type_hint: Option<String>,
    /// The client id (`client_secret_post` and public clients).
    pub client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    pub client_secret: Option<String>,
}

/// The token response (RFC 6749 section 5.1, OpenID Connect Core 3.1.3.3).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OidcTokenBody {
    /// A JWT (RFC 9068, header `typ: at+jwt`) for userinfo; `aud` is the client id.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The ID token (signed with the client's `id_token_alg`, RS256 by default).
    pub id_token: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// Only with `offline_access`; a new one with every refresh (the old one is then spent).
    pub refresh_token: Option<String>,
}

impl From<Tokens> for OidcTokenBody {
    fn from(tokens: Tokens) -> Self {
        Self {
            access_token: tokens.access_token,
            token_type: "Bearer".into(),
            expires_in: tokens.expires_in,
            id_token: tokens.id_token,
            scope: tokens.scope.to_string(),
            refresh_token: tokens.refresh_token,
        }
    }
}

/// What introspection says (RFC 7662 section 2.2): only `active` when the token is not.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IntrospectionBody {
    pub active: bool,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub iss: Option<String>,
    /// `Bearer` (an access token) or `refresh_token`.
    pub token_type: Option<String>,
    pub aud: Option<String>,
}

impl From<Option<ActiveToken>> for IntrospectionBody {
    fn from(token: Option<ActiveToken>) -> Self {
        let Some(t) = token else {
            return Self {
                active: false,
                scope: None,
                client_id: None,
                sub: None,
                exp: None,
                iat: None,
                iss: None,
                token_type: None,
                aud: None,
            };
        };
        Self {
            active: true,
            scope: Some(t.scope),
            client_id: Some(t.client_id),
            sub: Some(t.sub),
            exp: Some(t.exp),
            iat: t.iat,
            iss: Some(t.iss),
            token_type: Some(t.token_type.into()),
            aud: Some(t.aud),
        }
    }
}

#[derive(ApiResponse)]
pub enum TokenResponse {
    /// The tokens.
    #[oai(status = 200)]
    Ok(
        Json<OidcTokenBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

#[derive(ApiResponse)]
pub enum RevokeResponse {
    /// Revoked, or nothing to revoke (an unknown or expired token, or another client's).
    #[oai(status = 200)]
    Ok,
}

#[derive(ApiResponse)]
pub enum IntrospectResponse {
    /// What the token is.
    #[oai(status = 200)]
    Ok(
        Json<IntrospectionBody>,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// The grant a token request asks for.
fn token_grant(form: OidcTokenForm) -> Result<TokenGrant, AppError> {
    match form.grant_type.as_deref() {
        Some("authorization_code") => Ok(TokenGrant::AuthorizationCode {
            code: form.code.ok_or_else(|| {
                invalid_request("code is required with grant_type=authorization_code.")
            })?,
            redirect_uri: form.redirect_uri,
            code_verifier: form.code_verifier,
        }),
        Some("refresh_token") => Ok(TokenGrant::RefreshToken {
            refresh_token: form.refresh_token.ok_or_else(|| {
                invalid_request("refresh_token is required with grant_type=refresh_token.")
            })?,
            scope: form.scope,
        }),
        Some(_) => Err(AppError::new(
            ErrorCode::UnsupportedGrantType,
            "grant_type must be authorization_code or refresh_token.",
        )),
        None => Err(invalid_request("grant_type is required.")),
    }
}

pub struct TokenApi;

#[OpenApi(prefix_path = "/oidc", tag = "ApiTags::OpenIdConnect")]
impl TokenApi {
    /// Token endpoint
    ///
    /// Exchanges an authorization code (with its `redirect_uri` and PKCE `code_verifier`) or a
    /// refresh token for an access token, an ID token and, with `offline_access`, a new refresh
    /// token. A code works once, within `oidc.code_ttl_secs`; presented again, it revokes the
    /// tokens issued for it. A refresh token works once; presented again after its rotation, it
    /// revokes its whole family. Client authentication: `client_secret_basic`,
    /// `client_secret_post`, or `none` for public clients. Limited per address and per client
    /// (`rate_limit.auth_*`). Errors: 400 `invalid_request`, `invalid_grant`, `invalid_scope`,
    /// `unsupported_grant_type`; 401 `invalid_client`; 429 `rate_limited`.
    #[oai(path = "/token", method = "post", operation_id = "oidcToken")]
    async fn token(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: OAuthForm<OidcTokenForm>,
    ) -> Result<TokenResponse, OAuthError> {
        let OAuthForm(form) = form;
        let credentials =
            client_credentials(req, form.client_id.clone(), form.client_secret.clone())?;
        let grant = token_grant(form)?;
        let tokens = state
            .oidc
            .token(credentials, grant, client_info(req))
            .await?;
        Ok(TokenResponse::Ok(
            Json(tokens.into()),
            NO_STORE.into(),
            NO_CACHE.into(),
        ))
    }

    /// Revoke a token (RFC 7009)
    ///
    /// Ends the grant of a refresh token or access token the calling client holds: its refresh
    /// tokens and access tokens stop working. An unknown, expired or foreign token is answered
    /// 200 too. Errors: 400 `invalid_request`; 401 `invalid_client`.
    #[oai(path = "/revoke", method = "post", operation_id = "oidcRevoke")]
    async fn revoke(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: OAuthForm<TokenHintForm>,
    ) -> Result<RevokeResponse, OAuthError> {
        let OAuthForm(form) = form;
        let credentials = client_credentials(req, form.client_id, form.client_secret)?;
        let token = form
            .token
            .ok_or_else(|| invalid_request("token is required."))?;
        state.oidc.revoke(credentials, &token).await?;
        Ok(RevokeResponse::Ok)
    }

    /// Introspect a token (RFC 7662)
    ///
    /// For resource servers: whether a token is active, and if so its scope, client, subject,
    /// issuer, audience and times. Confidential clients only; a refresh token is active only
    /// for the client it was issued to. Errors: 400 `invalid_request`; 401 `invalid_client`.
    #[oai(path = "/introspect", method = "post", operation_id = "oidcIntrospect")]
    async fn introspect(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: OAuthForm<TokenHintForm>,
    ) -> Result<IntrospectResponse, OAuthError> {
        let OAuthForm(form) = form;
        let credentials = client_credentials(req, form.client_id, form.client_secret)?;
        let token = form
            .token
            .ok_or_else(|| invalid_request("token is required."))?;
        let introspection = state.oidc.introspect(credentials, &token).await?;
        Ok(IntrospectResponse::Ok(
            Json(introspection.into()),
            NO_STORE.into(),
        ))
    }
}
