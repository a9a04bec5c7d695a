//! /api/account/apps: the OpenID Connect apps the signed-in account has let in, and revoking
//! one (thin handlers over `oidc::apps`).

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Path},
    payload::Json,
    ApiResponse, OpenApi,
};

use super::{
    client_info, dto::ConnectedAppBody, error::ApiError, security::SessionAuth, ApiTags, AppState,
};

pub struct AppsApi;

#[derive(ApiResponse)]
pub enum AppsResponse {
    /// The connected apps, most recently granted first.
    #[oai(status = 200)]
    Ok(Json<Vec<ConnectedAppBody>>),
}

#[derive(ApiResponse)]
pub enum AppRevokedResponse {
    /// The consent is forgotten and the app's tokens stopped working.
    #[oai(status = 204)]
    Revoked,
}

#[OpenApi(prefix_path = "/api/account/apps", tag = "ApiTags::Account")]
impl AppsApi {
    /// List connected apps
    ///
    /// The OpenID Connect apps the account has let in (a remembered consent, or tokens still
    /// live): what each was allowed, when, and whether it holds a refresh token. Errors: 401
    /// `unauthenticated`.
    #[oai(path = "/", method = "get", operation_id = "listConnectedApps")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
    ) -> Result<AppsResponse, ApiError> {
        let apps = state.oidc.connected_apps(&auth.current).await?;
        Ok(AppsResponse::Ok(Json(
            apps.iter().map(ConnectedAppBody::from).collect(),
        )))
    }

    /// Revoke a connected app
    ///
    /// Forgets the consent (the app asks again next time) and ends everything it holds: its
    /// refresh tokens and access tokens stop working. Recorded as `oidc_app_revoked`. Errors:
    /// 401 `unauthenticated`; 403 `csrf_invalid`; 404 `app_not_found`.
    #[oai(
        path = "/:client_id",
        method = "delete",
        operation_id = "revokeConnectedApp"
    )]
    async fn revoke(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// The app's client id.
        client_id: Path<String>,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<AppRevokedResponse, ApiError> {
        state
            .oidc
            .revoke_app(&auth.current, &client_id, client_info(req))
            .await?;
        Ok(AppRevokedResponse::Revoked)
    }
}
