//! /healthz

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, OpenApi};

use super::{dto::HealthBody, error::ErrorBody, ApiTags, AppState};
use crate::error::ErrorCode;

pub struct HealthApi;

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The server and its database answer.
    #[oai(status = 200)]
    Ok(Json<HealthBody>),
    /// The database does not answer (`unavailable`).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check
    ///
    /// 200 when the database answers, 503 otherwise. For load balancers and orchestrators.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&Arc<AppState>>) -> HealthResponse {
        match state.service.check_health().await {
            Ok(()) => HealthResponse::Ok(Json(HealthBody {
                status: "ok".into(),
            })),
            Err(err) => {
                tracing::warn!(error = %err, "health check failed");
                HealthResponse::Unavailable(Json(ErrorBody {
                    error: ErrorCode::Unavailable,
                    message: "The database is not answering.".into(),
                }))
            }
        }
    }
}
