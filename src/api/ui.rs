//! What the built-in pages need: /api/config (their settings), the language switcher's form
//! (`POST /ui/language`) and the theme (`/theme.css`).

use std::{sync::Arc, time::Duration};

use poem::{
    handler,
    web::{cookie::Cookie, Data},
    Request, Response,
};
use poem_openapi::{
    payload::{Form, Json},
    ApiResponse, Object, OpenApi,
};

use super::{
    dto::{Jwks, UiConfigBody},
    error::ApiError,
    pages::LANGUAGE_COOKIE,
    ApiTags, AppState,
};
use crate::error::{AppError, ErrorCode};

/// How long a chosen language is kept.
const LANGUAGE_COOKIE_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// The longest `next` followed, in bytes (longer ones go to `/`).
const MAX_NEXT: usize = 2048;

pub struct UiApi;

#[derive(ApiResponse)]
pub enum UiConfigResponse {
    /// The pages' settings.
    #[oai(status = 200)]
    Ok(Json<UiConfigBody>),
}

/// The language switcher's form.
#[derive(Debug, Object, serde::Deserialize)]
pub struct LanguageForm {
    /// The language's code: one of the pages' languages (`en`, `de`, `fr`, `es`).
    pub lang: String,
    /// Where to go back to: a path on this server, with its query. Anything else (another
    /// site, `//host`, a full URL) goes to `/`.
    pub next: Option<String>,
}

#[derive(ApiResponse)]
pub enum LanguageResponse {
    /// Kept: the `siwe_lang` cookie (a year) holds the language; back to `next`.
    #[oai(status = 303)]
    SeeOther(
        #[oai(header = "Location")] String,
        #[oai(header = "Set-Cookie")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The public keys; cache them for a few minutes at most (keys rotate).
    #[oai(status = 200)]
    Ok(Json<Jwks>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi]
impl UiApi {
    /// Token verification keys (JWKS)
    ///
    /// The public keys that verify this server's tokens: Ed25519 (EdDSA) keys for the tokens
    /// from `POST /api/auth/token`, RSA (RS256) keys for OpenID Connect's ID and access tokens
    /// (and EdDSA for clients configured so). Each key is published before it signs and, once
    /// retired, until its tokens have expired; match a token's `kid`.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks",
        tag = "ApiTags::Auth"
    )]
    async fn jwks(&self, state: Data<&Arc<AppState>>) -> Result<JwksResponse, ApiError> {
        let jwks: Jwks = serde_json::from_value(state.service.jwks()?)
            .map_err(|e| crate::error::AppError::Internal(e.into()))?;
        Ok(JwksResponse::Ok(Json(jwks), "public, max-age=300".into()))
    }

    /// Page settings
    ///
    /// Branding, accepted chains and allowed redirect origins, for the built-in pages (and any
    /// other front end that wants the same). Errors: 429 `rate_limited`.
    #[oai(
        path = "/api/config",
        method = "get",
        operation_id = "getUiConfig",
        tag = "ApiTags::Ui"
    )]
    async fn config(&self, state: Data<&Arc<AppState>>) -> Result<UiConfigResponse, ApiError> {
        let mut ui = state.ui.clone();
        // Reloaded with forward-auth's policy on SIGHUP; the rest of the body is fixed at start.
        ui.redirect_origins = state.forward.load().return_origins.clone();
        Ok(UiConfigResponse::Ok(Json(ui)))
    }

    /// Choose the pages' language
    ///
    /// The language switcher of every page: keeps the language in the `siwe_lang` cookie
    /// (HttpOnly, SameSite=Lax, a year) and goes back to `next` (303), a path on this server
    /// (anything else goes to `/`). Without the cookie, pages follow the browser's
    /// `Accept-Language`, else English. Errors: 400 `invalid_request` (a language the pages do
    /// not have), 403 `origin_not_allowed` (sent from another site).
    #[oai(
        path = "/ui/language",
        method = "post",
        operation_id = "chooseLanguage",
        tag = "ApiTags::Ui"
    )]
    async fn choose_language(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        form: Form<LanguageForm>,
    ) -> Result<LanguageResponse, ApiError> {
        if super::cross_site(&state, req) {
            return Err(AppError::new(
                ErrorCode::OriginNotAllowed,
                "The language can only be changed from this server's own pages.",
            )
            .into());
        }
        let Some(language) = state.catalogues.get(&form.lang) else {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "lang must be one of the pages' languages (en, de, fr, es).",
            )
            .into());
        };
        let mut cookie = Cookie::new_with_str(LANGUAGE_COOKIE, language.code());
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_same_site(poem::web::cookie::SameSite::Lax);
        cookie.set_secure(state.public_origin.starts_with("https://"));
        cookie.set_max_age(LANGUAGE_COOKIE_MAX_AGE);
        Ok(LanguageResponse::SeeOther(
            same_origin_path(form.next.as_deref()).to_string(),
            cookie.to_string(),
            "no-store".into(),
        ))
    }
}

/// `next` when it is a path on this server, else `/`: never another host (`//host`, `/\host`
/// that browsers read as `//host`, a full URL), nothing that is not plain printable ASCII.
fn same_origin_path(next: Option<&str>) -> &str {
    next.filter(|next| {
        next.len() <= MAX_NEXT
            && next.starts_with('/')
            && !next.starts_with("//")
            && !next.contains('\\')
            && next.bytes().all(|b| b.is_ascii_graphic())
    })
    .unwrap_or("/")
}

/// `/theme.css`: the accent colour of `[ui]` for light and dark pages (`domain::theme`).
#[handler]
pub fn theme(state: Data<&Arc<AppState>>) -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(poem::http::header::CACHE_CONTROL, "public, max-age=300")
        .body(crate::domain::theme::stylesheet(&state.ui.accent_color))
}

#[cfg(test)]
mod tests {
    use super::same_origin_path;

    #[test]
    fn next_stays_on_this_server() {
        for (next, expected) in [
            (Some("/account?x=1#f"), "/account?x=1#f"),
            (
                Some("/oidc/authorize?client_id=a&scope=openid"),
                "/oidc/authorize?client_id=a&scope=openid",
            ),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("javascript:alert(1)"), "/"),
            (Some("/a b"), "/"),
            (Some("/\u{e9}"), "/"),
            (Some(""), "/"),
            (None, "/"),
        ] {
            assert_eq!(same_origin_path(next), expected, "{next:?}");
        }
        assert_eq!(
            same_origin_path(Some(&format!("/{}", "a".repeat(3000)))),
            "/"
        );
    }
}
