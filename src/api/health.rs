//! /healthz

use std::sync::Arc;

use poem::{http::header, web::Data, Request};
use poem_openapi::{
    payload::{Json, PlainText},
    ApiResponse, OpenApi,
};

use super::{dto::HealthBody, error::ApiError, ApiTags, AppState};
use crate::{
    error::{AppError, ErrorCode},
    http::error::ErrorBody,
    metrics::MetricsGate,
};

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

#[derive(ApiResponse)]
pub enum MetricsResponse {
    /// Prometheus text format.
    #[oai(
        status = 200,
        content_type = "text/plain; version=0.0.4; charset=utf-8"
    )]
    Ok(PlainText<String>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Prometheus metrics
    ///
    /// Requests by route and status, sign-ins by result, rate-limited requests, active
    /// sessions and nonce table size (counted at most every 30 seconds), SQLite latency and the
    /// running version (`siwe_build_info`).
    /// Served on the listener of `metrics.bind` to whoever reaches it, and on this one only
    /// with `Authorization: Bearer <metrics.token>` (else 401 `unauthenticated`); with neither
    /// setting, 404 `not_found`.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<MetricsResponse, ApiError> {
        let gate = req.data::<MetricsGate>().unwrap_or(&MetricsGate::Closed);
        if !gate.serves() {
            return Err(
                AppError::new(ErrorCode::NotFound, "There is nothing at this path.").into(),
            );
        }
        if !gate.admits(req.header(header::AUTHORIZATION)) {
            return Err(AppError::new(
                ErrorCode::Unauthenticated,
                "The metrics need Authorization: Bearer <metrics.token>.",
            )
            .into());
        }
        Ok(MetricsResponse::Ok(PlainText(
            state.service.metrics_text().await?,
        )))
    }

    /// Health check
    ///
    /// 200 with the server's version when the database answers, 503 otherwise. For load
    /// balancers and orchestrators.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&Arc<AppState>>) -> HealthResponse {
        match state.service.check_health().await {
            Ok(()) => HealthResponse::Ok(Json(HealthBody {
                status: "ok".into(),
                version: env!("CARGO_PKG_VERSION").into(),
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
