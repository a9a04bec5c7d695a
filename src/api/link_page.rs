//! The pages of emailed links. Mail scanners open every link with GET and HEAD, so opening a
//! link only shows a page saying what it will do; a POST from that page does it. The POST must
//! come from this server's origin and carry a MAC of the link's token and of a random value
//! the GET put in a short-lived SameSite=Strict cookie (double submit), so a cross-site form
//! or a replayed request without that browser's cookie is refused.

use poem::{http::header, web::cookie::Cookie, Request};
use poem_openapi::{
    payload::{Html, Json},
    ApiResponse, Object, ResponseContent,
};

use super::{
    pages::{PageContext, VARY},
    AppState,
};
use crate::{
    domain::email_link::EmailLinkKind,
    domain::token::Keys,
    error::{AppError, ErrorCode},
    http::error::{status_of, ErrorBody},
    i18n::escape,
    service::EmailLinkPreview,
};

/// The cookie holding this browser's random value for link pages.
const LINK_COOKIE: &str = "siwe_link_form";
/// How long a link page's form can be sent, in seconds.
const LINK_COOKIE_SECS: u64 = 30 * 60;

/// The form on a link's page.
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct LinkForm {
    /// The token from the emailed link.
    pub token: String,
    /// The form token of the page (binds the form to the browser that opened the link).
    pub csrf: String,
}

#[derive(ApiResponse)]
pub enum LinkPageResponse {
    /// A page saying what the link will do, with a button that does it (a form POST to this
    /// path). Opening the link changes nothing. Sets a short-lived cookie the form is bound to.
    #[oai(status = 200)]
    Page(
        Html<String>,
        #[oai(header = "Set-Cookie")] String,
        #[oai(header = "Cache-Control")] String,
        /// `Accept-Language, Cookie`: the page is in the person's language.
        #[oai(header = "Vary")]
        String,
    ),
}

/// An error as a page for browsers (`Accept: text/html`) or as JSON for other clients.
#[derive(ResponseContent)]
pub enum LinkErrorContent {
    Json(Json<ErrorBody>),
    Html(Html<String>),
}

/// Errors of link pages: HTML for browsers, the usual JSON error otherwise.
#[derive(ApiResponse)]
pub enum LinkError {
    /// The link is used, expired or mistyped, or the email changed since (`invalid_token`),
    /// or the form is malformed (`invalid_request`).
    #[oai(status = 400)]
    BadRequest(LinkErrorContent, #[oai(header = "Vary")] String),
    /// The form was not posted from the link's page in this browser (`csrf_invalid`), or came
    /// from another site (`origin_not_allowed`).
    #[oai(status = 403)]
    Forbidden(LinkErrorContent, #[oai(header = "Vary")] String),
    /// The wallet belongs to another account by now (`wallet_already_linked`), or another
    /// account has confirmed this email meanwhile (`email_in_use`).
    #[oai(status = 409)]
    Conflict(LinkErrorContent, #[oai(header = "Vary")] String),
    /// The server failed (`internal`); the cause is logged.
    #[oai(status = 500)]
    Internal(LinkErrorContent, #[oai(header = "Vary")] String),
    /// The database is unavailable (`unavailable`).
    #[oai(status = 503)]
    Unavailable(LinkErrorContent, #[oai(header = "Vary")] String),
}

impl LinkError {
    /// The error for this request: a page in the person's language when the client asked for
    /// HTML.
    pub fn new(state: &AppState, req: &Request, err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let code = err.code();
        let wants_html = req
            .header(header::ACCEPT)
            .is_some_and(|accept| accept.contains("text/html"));
        let content = if wants_html {
            LinkErrorContent::Html(Html(error_page(
                &PageContext::new(state, req),
                code,
                err.public_message(),
            )))
        } else {
            LinkErrorContent::Json(Json(ErrorBody {
                error: code,
                message: err.public_message().to_string(),
            }))
        };
        let vary = VARY.to_string();
        match status_of(code).as_u16() {
            400 => Self::BadRequest(content, vary),
            403 => Self::Forbidden(content, vary),
            409 => Self::Conflict(content, vary),
            503 => Self::Unavailable(content, vary),
            _ => Self::Internal(content, vary),
        }
    }
}

/// Refuses a link form that another site posted, or that was not made by this browser's page.
pub fn check_form_post(state: &AppState, req: &Request, form: &LinkForm) -> Result<(), AppError> {
    if super::cross_site(state, req) {
        return Err(AppError::new(
            ErrorCode::OriginNotAllowed,
            "This form was sent from another site. Open the link from the email and confirm on \
             this server's page.",
        ));
    }
    let browser = req.cookie().get(LINK_COOKIE);
    state.service.check_link_form(
        browser.as_ref().map(|c| c.value_str()),
        &form.token,
        &form.csrf,
    )
}

/// The page of a valid link: what it will do, and the form that does it.
pub fn page(
    state: &AppState,
    req: &Request,
    kind: EmailLinkKind,
    action: &str,
    token: &str,
    preview: &EmailLinkPreview,
) -> LinkPageResponse {
    // Reuse this browser's value, so that two links opened in two tabs both work.
    let browser = req
        .cookie()
        .get(LINK_COOKIE)
        .map(|c| c.value_str().to_string())
        .filter(|v| crate::domain::token::looks_like_token(v))
        .unwrap_or_else(|| Keys::new_token(state.service.clock().now_ms()));
    let form_token = state.service.link_form_token(&browser, token);
    let page = PageContext::new(state, req);
    let server = escape(page.server_name());
    let account = format!("<strong>{}</strong>", escape(&preview.account_name));
    let email = format!("<strong>{}</strong>", escape(&preview.email));
    let (title, what, button) = match kind {
        EmailLinkKind::VerifyEmail => (
            "link.verify_email_title",
            page.markup(
                "link.verify_email_text",
                &[
                    ("email", &email),
                    ("account", &account),
                    ("server", &server),
                ],
            ),
            "link.verify_email_button",
        ),
        EmailLinkKind::AttachWallet => {
            let wallet = preview.wallet.map(|w| w.to_string()).unwrap_or_default();
            let wallet = format!("<span class=\"mono\">{}</span>", escape(&wallet));
            (
                "link.attach_wallet_title",
                page.markup(
                    "link.attach_wallet_text",
                    &[
                        ("wallet", &wallet),
                        ("account", &account),
                        ("server", &server),
                        ("email", &email),
                    ],
                ),
                "link.attach_wallet_button",
            )
        }
    };
    let primary = preview
        .primary_address
        .map(|primary| {
            let address = format!(
                "<span class=\"mono\">{}</span>",
                escape(&primary.to_string())
            );
            format!(
                "<p>{}</p>\n",
                page.markup("link.primary_wallet", &[("address", &address)])
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<section class=\"card\">\n<p>{what}</p>\n{primary}\
         <p class=\"muted\">{nothing_changes}</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{form_token}\">\n\
         <div class=\"row\"><button type=\"submit\">{button}</button></div>\n\
         </form>\n</section>",
        nothing_changes = page.markup("link.nothing_changes", &[]),
        action = escape(action),
        token = escape(token),
        form_token = escape(&form_token),
        button = escape(&page.text(button)),
    );
    let mut cookie = Cookie::new_with_str(LINK_COOKIE, &browser);
    cookie.set_path("/api/");
    cookie.set_http_only(true);
    cookie.set_secure(state.public_origin.starts_with("https://"));
    cookie.set_same_site(poem::web::cookie::SameSite::Strict);
    cookie.set_max_age(std::time::Duration::from_secs(LINK_COOKIE_SECS));
    LinkPageResponse::Page(
        Html(page.document(&page.text(title), &body)),
        cookie.to_string(),
        "no-store".into(),
        VARY.into(),
    )
}

fn error_page(page: &PageContext, code: ErrorCode, message: &str) -> String {
    let home = page.link("/", "link.go_to_sign_in");
    page.error_document("link", code, message, &home)
}
