//! The built-in pages (login, account...): templates from `assets/`, rendered per request in
//! the person's language (`crate::i18n`), with the branding of `[ui]`. They are pages, not API
//! operations, so they are not in the OpenAPI document.

use std::sync::Arc;

use poem::{
    handler,
    http::{header, StatusCode},
    web::Data,
    Request, Response,
};

use super::AppState;
use crate::{
    assets::Assets,
    i18n::{escape, fill, render, Catalogue},
};

/// The cookie that keeps the language a person chose.
pub const LANGUAGE_COOKIE: &str = "siwe_lang";

/// The language for this request: the chosen one (cookie), else English.
pub fn language<'a>(state: &'a AppState, req: &Request) -> &'a Catalogue {
    req.cookie()
        .get(LANGUAGE_COOKIE)
        .and_then(|cookie| state.catalogues.get(cookie.value_str()))
        .unwrap_or_else(|| state.catalogues.source())
}

/// `assets/<name>` rendered for this request.
pub fn render_template(state: &AppState, req: &Request, name: &str) -> Response {
    let Some(file) = Assets::get(name) else {
        return StatusCode::NOT_FOUND.into();
    };
    let template = String::from_utf8_lossy(&file.data);
    let lang = language(state, req);
    let app = state.ui.app_name.as_str();
    let page = render(
        &template,
        |key| fill(state.catalogues.text(lang, key), &[("app", app)]),
        |name| match name {
            "lang" => escape(lang.code()),
            "app" => escape(app),
            "logo" => state
                .ui
                .logo_url
                .as_deref()
                .map(|url| {
                    format!(
                        "<img id=\"logo\" src=\"{}\" alt=\"{}\">",
                        escape(url),
                        escape(app)
                    )
                })
                .unwrap_or_default(),
            _ => String::new(),
        },
    );
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::VARY, "Accept-Language, Cookie")
        .body(page)
}

#[handler]
pub fn login(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    render_template(&state, req, "login.html")
}

#[handler]
pub fn account(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    render_template(&state, req, "account.html")
}

/// The phone's page of cross-device sign-in: `/pair` (type the code) and `/pair/<id>` (from the
/// QR code); its script tells them apart.
#[handler]
pub fn pair(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    render_template(&state, req, "pair.html")
}
