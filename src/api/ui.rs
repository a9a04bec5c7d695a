//! /api/config: what the built-in pages need to know.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::{
    dto::{Jwks, UiConfigBody},
    error::ApiError,
    ApiTags, AppState,
};

pub struct UiApi;

#[derive(ApiResponse)]
pub enum UiConfigResponse {
    /// The pages' settings.
    #[oai(status = 200)]
    Ok(Json<UiConfigBody>),
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The public keys; cache them for a few minutes at most (keys rotate).
    #[oai(status = 200)]
    Ok(Json<Jwks>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi]
impl UiApi {
    /// Token verification keys (JWKS)
    ///
    /// The public keys that verify this server's tokens: Ed25519 (EdDSA) keys for the tokens
    /// from `POST /api/auth/token`, RSA (RS256) keys for OpenID Connect's ID and access tokens
    /// (and EdDSA for clients configured so). Each key is published before it signs and, once
    /// retired, until its tokens have expired; match a token's `kid`.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks",
        tag = "ApiTags::Auth"
    )]
    async fn jwks(&self, state: Data<&Arc<AppState>>) -> Result<JwksResponse, ApiError> {
        let jwks: Jwks = serde_json::from_value(state.service.jwks()?)
            .map_err(|e| crate::error::AppError::Internal(e.into()))?;
        Ok(JwksResponse::Ok(Json(jwks), "public, max-age=300".into()))
    }

    /// Page settings
    ///
    /// Branding, accepted chains and allowed redirect origins, for the built-in pages (and any
    /// other front end that wants the same). Errors: 429 `rate_limited`.
    #[oai(
        path = "/api/config",
        method = "get",
        operation_id = "getUiConfig",
        tag = "ApiTags::Ui"
    )]
    async fn config(&self, state: Data<&Arc<AppState>>) -> Result<UiConfigResponse, ApiError> {
        Ok(UiConfigResponse::Ok(Json(state.ui.clone())))
    }
}
