//! `/oidc/logout` (the `end_session_endpoint`): GET shows a confirmation page and changes
//! nothing; its form's POST ends the session and goes back to the application when it named a
//! registered `post_logout_redirect_uri`. Thin handlers over `oidc::logout`.

use std::sync::Arc;

use poem::{web::Data, Request};
use poem_openapi::{param::Query, Object, OpenApi};

use super::{
    browser::{self, BrowserResponse, UrlEncoded, NO_STORE},
    pages,
};
use crate::{
    api::{client_info, pages::PageContext, ApiTags, AppState},
    domain::oidc::request::Params,
};

/// The sign-out confirmation's form: the request again and the session's CSRF token.
#[derive(Debug, Object)]
#[allow(dead_code)] // Documents the form: the handler reads the parameters as received.
pub struct LogoutForm {
    /// An ID token this server issued to the application (names the application).
    pub id_token_hint: Option<String>,
    /// The application's id.
    pub client_id: Option<String>,
    /// One of the application's registered `post_logout_redirect_uris`.
    pub post_logout_redirect_uri: Option<String>,
    /// Returned to the application unchanged.
    pub state: Option<String>,
    /// The session's CSRF token (required when signed in).
    pub csrf: Option<String>,
}

pub struct LogoutApi;

#[OpenApi(prefix_path = "/oidc", tag = "ApiTags::OpenIdConnect")]
impl LogoutApi {
    /// Sign out (confirmation page)
    ///
    /// RP-initiated logout: a page asking whether to sign out of this server (and the
    /// application), with a form that does it. Changes nothing. Not signed in: straight back
    /// to the registered `post_logout_redirect_uri` (302, with `state`), else a "signed out"
    /// page. Errors (a page, 400): an unknown `client_id`, a `client_id` that is not the
    /// hint's audience, an unregistered `post_logout_redirect_uri` (`invalid_request`).
    #[oai(path = "/logout", method = "get", operation_id = "oidcLogoutPage")]
    async fn logout_page(
        &self,
        app: Data<&Arc<AppState>>,
        req: &Request,
        /// An ID token this server issued to the application.
        #[oai(name = "id_token_hint")]
        _id_token_hint: Query<Option<String>>,
        /// The application's id.
        #[oai(name = "client_id")]
        _client_id: Query<Option<String>>,
        /// One of the application's registered `post_logout_redirect_uris`.
        #[oai(name = "post_logout_redirect_uri")]
        _post_logout_redirect_uri: Query<Option<String>>,
        /// Returned to the application unchanged.
        #[oai(name = "state")]
        _state: Query<Option<String>>,
    ) -> BrowserResponse {
        let params = Params::from_urlencoded(req.uri().query().unwrap_or_default().as_bytes());
        let page = PageContext::new(&app, req);
        let (logout, session) = match (
            app.oidc.logout_request(&params).await,
            browser::session(&app, req).await,
        ) {
            (Ok(logout), Ok(session)) => (logout, session),
            (Err(err), _) | (_, Err(err)) => return BrowserResponse::from_error(&page, err),
        };
        match (session, logout.then) {
            (Some(session), then) => {
                let csrf = app.service.csrf_token(&session.session.id);
                let html = pages::logout(
                    &page,
                    logout.client.as_ref().map(|c| c.name.as_str()),
                    &logout.params,
                    &csrf,
                );
                let target = then.map(|url| url.origin().ascii_serialization());
                BrowserResponse::page(html, target.as_deref(), None)
            }
            (None, Some(then)) => BrowserResponse::Found(then.into(), NO_STORE.into()),
            (None, None) => BrowserResponse::page(pages::signed_out(&page), None, None),
        }
    }

    /// Sign out
    ///
    /// The confirmation page's form: ends this browser's session (same-origin, with the
    /// session's CSRF token) and clears its cookie, then goes back to the registered
    /// `post_logout_redirect_uri` with `state` (303), else shows a "signed out" page.
    /// Errors: 400 page (`invalid_request`), 403 (`csrf_invalid`, `origin_not_allowed`).
    #[oai(path = "/logout", method = "post", operation_id = "oidcLogout")]
    async fn logout(
        &self,
        app: Data<&Arc<AppState>>,
        req: &Request,
        form: UrlEncoded<LogoutForm>,
    ) -> BrowserResponse {
        let page = PageContext::new(&app, req);
        let session = match browser::session(&app, req).await {
            Ok(session) => session,
            Err(err) => return BrowserResponse::from_error(&page, err),
        };
        let logout = match app
            .oidc
            .logout(&form.0, session.as_ref(), client_info(req))
            .await
        {
            Ok(logout) => logout,
            Err(err) => return BrowserResponse::from_error(&page, err),
        };
        let clear = session.map(|_| app.cookie.clear());
        match logout.then {
            Some(then) => BrowserResponse::SeeOther(then.into(), NO_STORE.into(), clear),
            None => BrowserResponse::page(pages::signed_out(&page), None, clear),
        }
    }
}
