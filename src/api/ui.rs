//! /api/config: what the built-in pages need to know.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::{dto::UiConfigBody, error::ApiError, ApiTags, AppState};

pub struct UiApi;

#[derive(ApiResponse)]
pub enum UiConfigResponse {
    /// The pages' settings.
    #[oai(status = 200)]
    Ok(Json<UiConfigBody>),
}

#[OpenApi(tag = "ApiTags::Ui")]
impl UiApi {
    /// Page settings
    ///
    /// Branding, accepted chains and allowed redirect origins, for the built-in pages (and any
    /// other front end that wants the same). Errors: 429 `rate_limited`.
    #[oai(path = "/api/config", method = "get", operation_id = "getUiConfig")]
    async fn config(&self, state: Data<&Arc<AppState>>) -> Result<UiConfigResponse, ApiError> {
        Ok(UiConfigResponse::Ok(Json(state.ui.clone())))
    }
}
