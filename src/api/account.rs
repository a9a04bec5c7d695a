//! /api/account: profile, email verification, security events.

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{
    param::{Header, Query},
    payload::{Form, Json},
    types::MaybeUndefined,
    ApiResponse, OpenApi,
};

use super::{
    client_info,
    dto::{EventBody, ProfileRequest, User},
    error::ApiError,
    link_page::{self, LinkError, LinkForm, LinkPageResponse},
    security::SessionAuth,
    ApiTags, AppState,
};
use crate::{domain::email_link::EmailLinkKind, service::ProfileUpdate};

pub struct AccountApi;

#[derive(ApiResponse)]
pub enum AccountResponse {
    /// The account.
    #[oai(status = 200)]
    Ok(Json<User>),
}

#[derive(ApiResponse)]
pub enum VerifyEmailResponse {
    /// The email is verified; the browser is sent to the start page.
    #[oai(status = 303)]
    Verified(#[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum EventsResponse {
    /// The account's recent security events, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<EventBody>>),
}

#[OpenApi(prefix_path = "/api/account", tag = "ApiTags::Account")]
impl AccountApi {
    /// Get the account
    ///
    /// Errors: 401 `unauthenticated`.
    #[oai(path = "/", method = "get", operation_id = "getAccount")]
    async fn get(&self, auth: SessionAuth) -> Result<AccountResponse, ApiError> {
        Ok(AccountResponse::Ok(Json((&auth.current.account).into())))
    }

    /// Update the profile
    ///
    /// Changes the name and/or email. A new email is stored unverified, pending until verified:
    /// naming an address reserves nothing, and only a verified address is unique, so the answer
    /// is the same whoever else has the address. When the server has email configured, a
    /// single-use verification link is sent to it, except (quietly) to an address another
    /// account has verified or one that has had 3 mails in the last hour. Changing or removing
    /// the email needs a recent signature (the name does not). Falls under the `auth` rate
    /// limit. Errors: 400 `invalid_request`; 401 `unauthenticated`; 403 `csrf_invalid`,
    /// `reauthentication_required`; 429 `rate_limited`; 503 `email_unavailable`.
    #[oai(path = "/", method = "put", operation_id = "updateAccount")]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        auth: SessionAuth,
        /// The session's CSRF token; required with cookie authentication.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: Json<ProfileRequest>,
    ) -> Result<AccountResponse, ApiError> {
        let ProfileRequest { name, email } = body.0;
        let email = match email {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(email) => Some(Some(email)),
        };
        let account = state
            .service
            .update_profile(
                &auth.current,
                ProfileUpdate {
                    name: name.map(String::from),
                    email: email.map(|e| e.map(String::from)),
                },
                client_info(req),
            )
            .await?;
        Ok(AccountResponse::Ok(Json((&account).into())))
    }

    /// Show what an emailed verification link does
    ///
    /// The link sent by email opens this page: it names the address that will be confirmed
    /// and has a button that confirms it (a form POST to this path). Opening it (GET or HEAD,
    /// as mail scanners do) changes nothing and does not spend the link. Errors (a page for
    /// browsers, JSON otherwise): 400 `invalid_token` (used, expired, or the email changed
    /// since).
    #[oai(
        path = "/verify-email",
        method = "get",
        operation_id = "showVerifyEmail"
    )]
    async fn verify_email_page(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        /// The token from the emailed link.
        token: Query<String>,
    ) -> Result<LinkPageResponse, LinkError> {
        let kind = EmailLinkKind::VerifyEmail;
        let preview = state
            .service
            .preview_email_link(&token.0, kind)
            .await
            .map_err(|e| LinkError::new(&state, req, e))?;
        Ok(link_page::page(
            &state,
            req,
            kind,
            "/api/account/verify-email",
            &token.0,
            &preview,
        ))
    }

    /// Verify an email address
    ///
    /// The form of the verification link's page: marks the email verified and sends the
    /// browser to the start page. Only a POST from that page in the same browser works (the
    /// form carries a MAC of the page's cookie; a foreign `Origin` or `Sec-Fetch-Site:
    /// cross-site` is refused). Errors (a page for browsers, JSON otherwise): 400
    /// `invalid_token` (used, expired, or the email changed since), `invalid_request`; 403
    /// `csrf_invalid`, `origin_not_allowed`; 409 `email_in_use` (another account confirmed the
    /// address meanwhile).
    #[oai(path = "/verify-email", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: Form<LinkForm>,
    ) -> Result<VerifyEmailResponse, LinkError> {
        link_page::check_form_post(&state, req, &form)
            .map_err(|e| LinkError::new(&state, req, e))?;
        state
            .service
            .verify_email(form.0.token, client_info(req))
            .await
            .map_err(|e| LinkError::new(&state, req, e))?;
        Ok(VerifyEmailResponse::Verified("/?email_verified=1".into()))
    }

    /// Recent security events
    ///
    /// Sign-ins and refused attempts with this account's wallets, wallet and session changes,
    /// email changes. Errors: 401 `unauthenticated`.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn events(
        &self,
        state: Data<&Arc<AppState>>,
        auth: SessionAuth,
        /// How many events, 1 to 200 (default 50).
        limit: Query<Option<u32>>,
    ) -> Result<EventsResponse, ApiError> {
        let events = state
            .service
            .events(&auth.current, limit.0.unwrap_or(50))
            .await?;
        Ok(EventsResponse::Ok(Json(
            events
                .iter()
                .map(|e| EventBody::new(e, &auth.current.account))
                .collect(),
        )))
    }
}
