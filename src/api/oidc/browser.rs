//! What the browser-facing OpenID Connect handlers (authorize, consent, logout) share: a form
//! body read as its raw parameters, the browser's session if it has one, and their answers
//! (a page, a redirect, an error page), never cached.

use std::marker::PhantomData;

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{Html, ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
    ApiResponse,
};

use crate::{
    api::{
        link_page::LinkErrorContent,
        pages::{PageContext, VARY},
        AppState,
    },
    domain::oidc::request::Params,
    error::{AppError, AppResult, ErrorCode},
    http::error::status_of,
    service::Authenticated,
};

use super::pages;

/// An `application/x-www-form-urlencoded` body as received (repeated names kept, so they can
/// be refused), documented as `T`.
pub struct UrlEncoded<T>(pub Params, PhantomData<fn() -> T>);

impl<T: Type> Payload for UrlEncoded<T> {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn check_content_type(content_type: &str) -> bool {
        super::oauth::is_form_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> ParsePayload for UrlEncoded<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = Vec::<u8>::from_request(req, body).await?;
        Ok(Self(Params::from_urlencoded(&bytes), PhantomData))
    }
}

impl_apirequest_for_payload!(UrlEncoded<T>, T: Type);

/// The browser's live session, if its cookie names one (a bearer token means nothing here:
/// these are pages).
pub async fn session(state: &AppState, req: &Request) -> AppResult<Option<Authenticated>> {
    let Some(cookie) = req.cookie().get(state.cookie.name()) else {
        return Ok(None);
    };
    match state.service.authenticate(cookie.value_str()).await {
        Ok(current) => Ok(Some(current)),
        Err(err) if err.code() == ErrorCode::Unauthenticated => Ok(None),
        Err(err) => Err(err),
    }
}

/// Never cached: every answer carries a code, a CSRF token or a decision about a session.
pub const NO_STORE: &str = "no-store";

/// The answers of the browser-facing endpoints.
#[derive(ApiResponse)]
pub enum BrowserResponse {
    /// A page: the consent page (authorize), the sign-out confirmation or "signed out"
    /// (logout). Its `Content-Security-Policy` lets its form's answer go on to the application.
    #[oai(status = 200)]
    Page(
        Html<String>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Content-Security-Policy")] Option<String>,
        #[oai(header = "Set-Cookie")] Option<String>,
        /// `Accept-Language, Cookie`: the page is in the person's language.
        #[oai(header = "Vary")]
        String,
    ),
    /// To the application's registered redirect URI (with `code`, `state`, `iss`, or `error`,
    /// `error_description`, `state`, `iss`), or to the login page (`/login?next=`).
    #[oai(status = 302)]
    Found(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// As 302, in answer to a form (POST).
    #[oai(status = 303)]
    SeeOther(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Set-Cookie")] Option<String>,
    ),
    /// A page saying why the request cannot go on: an unknown `client_id` or a `redirect_uri`
    /// it has not registered (never redirected), or a malformed form (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(
        LinkErrorContent,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Vary")] String,
    ),
    /// The form lacks the session's CSRF token (`csrf_invalid`) or came from another site
    /// (`origin_not_allowed`).
    #[oai(status = 403)]
    Forbidden(
        LinkErrorContent,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Vary")] String,
    ),
    /// The form body did not arrive within 10 seconds (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(LinkErrorContent, #[oai(header = "Cache-Control")] String),
    /// The form body is over the size limit (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(LinkErrorContent, #[oai(header = "Cache-Control")] String),
    /// Too many requests from this client address (`rate_limited`); retry after the number of
    /// seconds in `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(LinkErrorContent, #[oai(header = "Retry-After")] u64),
    /// The server failed (`internal`); the cause is logged.
    #[oai(status = 500)]
    Internal(
        LinkErrorContent,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Vary")] String,
    ),
    /// The database is unavailable (`unavailable`) or the server too busy (`overloaded`).
    #[oai(status = 503)]
    Unavailable(
        LinkErrorContent,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Vary")] String,
    ),
}

impl BrowserResponse {
    /// A page, with `form_target` (an origin) allowed as where its form's answer may go.
    pub fn page(html: String, form_target: Option<&str>, set_cookie: Option<String>) -> Self {
        let csp = form_target.map(|origin| format!("form-action 'self' {origin}"));
        Self::Page(Html(html), NO_STORE.into(), csp, set_cookie, VARY.into())
    }

    /// A page saying why the request cannot go on (400, `invalid_request`).
    pub fn error_page(page: &PageContext, message: &'static str) -> Self {
        Self::from_error(page, AppError::new(ErrorCode::InvalidRequest, message))
    }

    /// A failure as a page; `internal` causes are logged, not shown.
    pub fn from_error(page: &PageContext, err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let code = err.code();
        let content = LinkErrorContent::Html(Html(pages::error(page, code, err.public_message())));
        let (no_store, vary) = (NO_STORE.to_string(), VARY.to_string());
        match status_of(code).as_u16() {
            400 => Self::BadRequest(content, no_store, vary),
            403 => Self::Forbidden(content, no_store, vary),
            503 => Self::Unavailable(content, no_store, vary),
            _ => Self::Internal(content, no_store, vary),
        }
    }
}
