//! `/oidc/authorize` (GET, and POST with the same parameters as a form) and `/oidc/consent`
//! (the consent page's form): thin handlers over `Oidc::authorize`. The parameters are read
//! as received (a repeated one is refused), so the typed ones below only document them.

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
    oidc::authorize::Authorization,
};

/// The parameters of an authorization request (OpenID Connect Core 1.0 section 3.1.2.1), as
/// a form. Each at most 2048 bytes, none repeated.
#[derive(Debug, Object)]
#[allow(dead_code)] // Documents the form: the handler reads the parameters as received.
pub struct AuthorizeParams {
    /// `code` (the only response type).
    pub response_type: Option<String>,
    /// The application's id.
    pub client_id: Option<String>,
    /// One of the application's registered redirect URIs, exactly (may be left out when it
    /// has only one).
    pub redirect_uri: Option<String>,
    /// Space-separated; must include `openid`. Also `profile`, `email`, `wallets`,
    /// `offline_access`; others are ignored.
    pub scope: Option<String>,
    /// Returned to the application unchanged.
    pub state: Option<String>,
    /// Copied into the ID token.
    pub nonce: Option<String>,
    /// PKCE (RFC 7636): `BASE64URL(SHA-256(verifier))`, 43 characters; required of public
    /// clients.
    pub code_challenge: Option<String>,
    /// `S256` (`plain` is refused).
    pub code_challenge_method: Option<String>,
    /// `none`, or any of `login`, `consent`, `select_account`.
    pub prompt: Option<String>,
    /// Seconds since the last signature after which the person must sign in again.
    pub max_age: Option<String>,
    /// The address expected to sign in.
    pub login_hint: Option<String>,
    /// Unix seconds: the sign-in must be newer (set by this server in place of
    /// `prompt=login` when it sends the person to its login page).
    pub login_after: Option<String>,
    /// `query` (the only response mode).
    pub response_mode: Option<String>,
    /// Not supported (`request_not_supported`).
    pub request: Option<String>,
    /// Not supported (`request_not_supported`).
    pub request_uri: Option<String>,
}

/// The consent page's form: the request again, the session's CSRF token and the answer.
#[derive(Debug, Object)]
#[allow(dead_code)] // Documents the form: the handler reads the parameters as received.
pub struct ConsentForm {
    #[oai(flatten)]
    pub request: AuthorizeParams,
    /// The session's CSRF token.
    pub csrf: String,
    /// `allow` or `deny`.
    pub decision: String,
}

pub struct AuthorizeApi;

#[OpenApi(prefix_path = "/oidc", tag = "ApiTags::OpenIdConnect")]
impl AuthorizeApi {
    /// Authorization endpoint
    ///
    /// Starts an OpenID Connect sign-in (authorization code flow with PKCE). An unknown
    /// `client_id` or an unregistered `redirect_uri` gets an error page (400), never a
    /// redirect. Other errors go to the redirect URI as `error` (`invalid_request`,
    /// `unsupported_response_type`, `invalid_scope`, `request_not_supported`,
    /// `login_required`, `consent_required`, `access_denied`), `error_description`, `state`
    /// and `iss`. Not signed in (or too long ago for `max_age`, or `prompt=login`, or as
    /// another wallet than `login_hint`): to `/login?next=`, which comes back here. Signed in
    /// and consented (or a trusted application): to the redirect URI with `code`, `state` and
    /// `iss` (RFC 9207). Otherwise the consent page.
    #[oai(path = "/authorize", method = "get", operation_id = "authorize")]
    #[allow(clippy::too_many_arguments)]
    async fn authorize(
        &self,
        app: Data<&Arc<AppState>>,
        req: &Request,
        /// `code`.
        #[oai(name = "response_type")]
        _response_type: Query<Option<String>>,
        /// The application's id.
        #[oai(name = "client_id")]
        _client_id: Query<Option<String>>,
        /// A registered redirect URI, exactly.
        #[oai(name = "redirect_uri")]
        _redirect_uri: Query<Option<String>>,
        /// Space-separated scopes, with `openid`.
        #[oai(name = "scope")]
        _scope: Query<Option<String>>,
        /// Returned unchanged.
        #[oai(name = "state")]
        _state: Query<Option<String>>,
        /// Copied into the ID token.
        #[oai(name = "nonce")]
        _nonce: Query<Option<String>>,
        /// PKCE challenge (S256).
        #[oai(name = "code_challenge")]
        _code_challenge: Query<Option<String>>,
        /// `S256`.
        #[oai(name = "code_challenge_method")]
        _code_challenge_method: Query<Option<String>>,
        /// `none`, or any of `login`, `consent`, `select_account`.
        #[oai(name = "prompt")]
        _prompt: Query<Option<String>>,
        /// Seconds.
        #[oai(name = "max_age")]
        _max_age: Query<Option<String>>,
        /// The expected address.
        #[oai(name = "login_hint")]
        _login_hint: Query<Option<String>>,
        /// Unix seconds (set by this server in place of `prompt=login`).
        #[oai(name = "login_after")]
        _login_after: Query<Option<String>>,
        /// `query`.
        #[oai(name = "response_mode")]
        _response_mode: Query<Option<String>>,
        /// Not supported.
        #[oai(name = "request")]
        _request: Query<Option<String>>,
        /// Not supported.
        #[oai(name = "request_uri")]
        _request_uri: Query<Option<String>>,
    ) -> BrowserResponse {
        let params = Params::from_urlencoded(req.uri().query().unwrap_or_default().as_bytes());
        answer(&app, req, &params, false).await
    }

    /// Authorization endpoint (form)
    ///
    /// The same request as GET, as a form, from any site. A form another site posted (its
    /// browser withholds the session cookie) is sent on to the GET with the same parameters
    /// (303), which sees the session.
    #[oai(path = "/authorize", method = "post", operation_id = "authorizeForm")]
    async fn authorize_form(
        &self,
        app: Data<&Arc<AppState>>,
        req: &Request,
        form: UrlEncoded<AuthorizeParams>,
    ) -> BrowserResponse {
        if crate::api::cross_site(&app, req) {
            return match app.oidc.authorize_url(&form.0) {
                Ok(url) => BrowserResponse::SeeOther(url.into(), NO_STORE.into(), None),
                Err(err) => BrowserResponse::from_error(&PageContext::new(&app, req), err),
            };
        }
        answer(&app, req, &form.0, true).await
    }

    /// The consent page's answer
    ///
    /// `decision=allow` remembers the consent and sends the code to the application;
    /// `decision=deny` sends it `access_denied`. Same-origin only, with the session's CSRF
    /// token; everything about the request is checked again. Errors: 400 page
    /// (`invalid_request`: no decision), 403 (`csrf_invalid`, `origin_not_allowed`).
    #[oai(path = "/consent", method = "post", operation_id = "answerConsent")]
    async fn consent(
        &self,
        app: Data<&Arc<AppState>>,
        req: &Request,
        form: UrlEncoded<ConsentForm>,
    ) -> BrowserResponse {
        let params = &form.0;
        let page = PageContext::new(&app, req);
        let allow = match params.value("decision") {
            Some("allow") => true,
            Some("deny") => false,
            _ => {
                return BrowserResponse::error_page(&page, "The form says neither allow nor deny.")
            }
        };
        let outcome = match browser::session(&app, req).await {
            Ok(session) => {
                app.oidc
                    .answer_consent(
                        params,
                        session.as_ref(),
                        params.value("csrf"),
                        allow,
                        client_info(req),
                    )
                    .await
            }
            Err(err) => Err(err),
        };
        respond(&page, outcome, true)
    }
}

/// Decides a request with the browser's session.
async fn answer(app: &AppState, req: &Request, params: &Params, form: bool) -> BrowserResponse {
    let outcome = match browser::session(app, req).await {
        Ok(session) => {
            app.oidc
                .authorize(
                    params,
                    session.as_ref(),
                    crate::oidc::authorize::Decision::Ask,
                    client_info(req),
                )
                .await
        }
        Err(err) => Err(err),
    };
    respond(&PageContext::new(app, req), outcome, form)
}

/// The response for a decision, its pages in `page`'s language; `form` answers a POST (303
/// instead of 302).
fn respond(
    page: &PageContext,
    outcome: crate::error::AppResult<Authorization>,
    form: bool,
) -> BrowserResponse {
    match outcome {
        Ok(Authorization::ErrorPage(why)) => BrowserResponse::error_page(page, why),
        Ok(Authorization::Redirect(url)) if form => {
            BrowserResponse::SeeOther(url.into(), NO_STORE.into(), None)
        }
        Ok(Authorization::Redirect(url)) => BrowserResponse::Found(url.into(), NO_STORE.into()),
        Ok(Authorization::Consent(prompt)) => BrowserResponse::page(
            pages::consent(
                page,
                &prompt.app_name,
                &prompt.account_name,
                &prompt.scopes,
                &prompt.params,
                &prompt.csrf,
            ),
            Some(&prompt.form_target),
            None,
        ),
        Err(err) => BrowserResponse::from_error(page, err),
    }
}
