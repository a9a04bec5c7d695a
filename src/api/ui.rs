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
    /// The Ed25519 public keys that verify the tokens from `POST /api/auth/token`, including
    /// retired keys until their tokens have expired.
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
