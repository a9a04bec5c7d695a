//! The built-in pages (login, account...): templates from `assets/`, rendered per request in
//! the person's language (`crate::i18n`), with the branding of `[ui]`, and the frame of the
//! pages rendered in code (email links, OpenID Connect): one [`PageContext`] per request gives
//! both the same language, logo, theme and language switcher. They are pages, not API
//! operations, so they are not in the OpenAPI document.

use std::sync::Arc;

use poem::{
    endpoint::EmbeddedFilesEndpoint,
    handler,
    http::{header, Method, StatusCode},
    web::Data,
    Endpoint, EndpointExt, IntoResponse, Request, Response,
};

use super::AppState;
use crate::{
    assets::Assets,
    error::ErrorCode,
    i18n::{escape, fill, render, Catalogue},
};

/// The cookie that keeps the language a person chose.
pub const LANGUAGE_COOKIE: &str = "siwe_lang";

/// Where the language switcher's form posts.
pub const LANGUAGE_PATH: &str = "/ui/language";

/// What a page's language depends on (its `Vary` header).
pub const VARY: &str = "Accept-Language, Cookie";

/// The language for this request: the chosen one (cookie), else the browser's preference
/// (`Accept-Language`), else English.
pub fn language<'a>(state: &'a AppState, req: &Request) -> &'a Catalogue {
    let chosen = req.cookie().get(LANGUAGE_COOKIE);
    state.catalogues.choose(
        chosen.as_ref().map(|cookie| cookie.value_str()),
        req.header(header::ACCEPT_LANGUAGE),
    )
}

/// What the pages of one request share: its language, the branding, and where the language
/// switcher comes back to.
pub struct PageContext<'a> {
    state: &'a AppState,
    language: &'a Catalogue,
    /// This page's path and query (a GET's; `/` after a form, whose page cannot be asked for
    /// again).
    here: String,
}

impl<'a> PageContext<'a> {
    pub fn new(state: &'a AppState, req: &Request) -> Self {
        let here = (req.method() == Method::GET)
            .then(|| req.original_uri().path_and_query())
            .flatten()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
        Self {
            state,
            language: language(state, req),
            here,
        }
    }

    pub fn language(&self) -> &Catalogue {
        self.language
    }

    /// This server as people know it: its host.
    pub fn server_name(&self) -> &str {
        let origin = &self.state.public_origin;
        origin
            .split_once("://")
            .map_or(origin.as_str(), |(_, host)| host)
    }

    /// `key`'s text with its `{app}` filled in; plain text, to be escaped.
    pub fn text(&self, key: &str) -> String {
        self.text_with(key, &[])
    }

    /// `key`'s text with each `{name}` replaced by the text in `vars` and `{app}` by the app's
    /// name; plain text, to be escaped.
    pub fn text_with(&self, key: &str, vars: &[(&str, &str)]) -> String {
        let mut all = vars.to_vec();
        all.push(("app", &self.state.ui.app_name));
        fill(self.state.catalogues.text(self.language, key), &all)
    }

    /// `key`'s text as markup: escaped, then each `{name}` replaced by the markup in `vars`
    /// (which the caller built from escaped parts) and `{app}` by the app's name.
    pub fn markup(&self, key: &str, vars: &[(&str, &str)]) -> String {
        let app = escape(&self.state.ui.app_name);
        let mut all = vars.to_vec();
        all.push(("app", &app));
        fill(
            &escape(self.state.catalogues.text(self.language, key)),
            &all,
        )
    }

    /// A whole page saying why a request failed: the title `<section>.error_title`, the
    /// sentence the pages show for `code` (`errors.<code>`; else the server's `message`, in
    /// English, which is also shown below a sentence that differs: it says more) marked
    /// `data-testid="<section>-error"`, the code, and `next` (markup: where to go from here).
    pub fn error_document(
        &self,
        section: &str,
        code: ErrorCode,
        message: &str,
        next: &str,
    ) -> String {
        let key = format!("errors.{}", code.as_str());
        let sentence = (self.state.catalogues.lookup(self.language, &key))
            .map(|_| self.text(&key))
            .filter(|sentence| sentence != message);
        let (sentence, detail) = match sentence {
            Some(sentence) => (
                escape(&sentence),
                format!("<p class=\"muted\" lang=\"en\">{}</p>\n", escape(message)),
            ),
            None => (
                format!("<span lang=\"en\">{}</span>", escape(message)),
                String::new(),
            ),
        };
        let code_markup = format!(
            "<span class=\"mono\" data-error=\"{code}\">{code}</span>",
            code = code.as_str()
        );
        let body = format!(
            "<div class=\"notice error\" role=\"alert\" data-testid=\"{testid}-error\">{sentence}\
             </div>\n{detail}<p class=\"muted\">{error_code} {next}</p>",
            testid = escape(section),
            error_code = self.markup("common.error_code", &[("code", &code_markup)]),
        );
        self.document(&self.text(&format!("{section}.error_title")), &body)
    }

    /// A link to `href` (a path on this server) saying `key`'s text.
    pub fn link(&self, href: &str, key: &str) -> String {
        format!(
            "<a href=\"{}\">{}</a>",
            escape(href),
            escape(&self.text(key))
        )
    }

    /// The markup of a template's `{{@name}}`.
    fn special(&self, name: &str) -> String {
        match name {
            "lang" => escape(self.language.code()),
            "app" => escape(&self.state.ui.app_name),
            "logo" => self.logo(),
            "switcher" => self.switcher(),
            _ => String::new(),
        }
    }

    /// The logo `<img>` of `[ui]`, or nothing.
    fn logo(&self) -> String {
        self.state
            .ui
            .logo_url
            .as_deref()
            .map(|url| {
                format!(
                    "<img id=\"logo\" src=\"{}\" alt=\"{}\">",
                    escape(url),
                    escape(&self.state.ui.app_name)
                )
            })
            .unwrap_or_default()
    }

    /// The language switcher: a form that works without script, each language by its own name.
    pub fn switcher(&self) -> String {
        let options: String = self
            .state
            .catalogues
            .all()
            .iter()
            .map(|catalogue| {
                let code = escape(catalogue.code());
                let key = format!("languages.{}", catalogue.code());
                let name = escape(self.state.catalogues.text(catalogue, &key));
                let selected = if catalogue.code() == self.language.code() {
                    " selected"
                } else {
                    ""
                };
                format!("<option value=\"{code}\" lang=\"{code}\"{selected}>{name}</option>")
            })
            .collect();
        format!(
            "<form class=\"language-switcher\" method=\"post\" action=\"{LANGUAGE_PATH}\" \
             data-testid=\"language-switcher\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\
             <label for=\"language-select\">{label}</label>\
             <select id=\"language-select\" name=\"lang\">{options}</select>\
             <button type=\"submit\" class=\"secondary\">{change}</button></form>",
            next = escape(&self.here),
            label = escape(&self.text("common.language")),
            change = escape(&self.text("common.change_language")),
        )
    }

    /// A template rendered in this request's language.
    pub fn render(&self, template: &str) -> String {
        render(template, |key| self.text(key), |name| self.special(name))
    }

    /// A whole page rendered in code: `title` (text) and `body` (markup). Its referrer policy
    /// is `strict-origin` instead of the server's `no-referrer`, as in the templates: under
    /// `no-referrer` a browser sends `Origin: null` with a form's POST, which the origin check
    /// must refuse; `strict-origin` sends the real origin and never the page's URL (with an
    /// emailed link's token).
    pub fn document(&self, title: &str, body: &str) -> String {
        format!(
            "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"robots\" content=\"noindex\">\n\
             <meta name=\"referrer\" content=\"strict-origin\">\n\
             <title>{title}</title>\n\
             <link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\">\n\
             <link rel=\"stylesheet\" href=\"/assets/app.css\">\n\
             <link rel=\"stylesheet\" href=\"/theme.css\">\n</head>\n<body>\n<main>\n\
             <header class=\"brand\">{logo}<h1>{title}</h1></header>\n{body}\n\
             <footer class=\"muted\">{switcher}</footer>\n</main>\n</body>\n</html>\n",
            lang = escape(self.language.code()),
            title = escape(title),
            logo = self.logo(),
            switcher = self.switcher(),
        )
    }
}

/// `assets/<name>` rendered for this request.
pub fn render_template(state: &AppState, req: &Request, name: &str) -> Response {
    let Some(file) = Assets::get(name) else {
        return StatusCode::NOT_FOUND.into();
    };
    let page = PageContext::new(state, req).render(&String::from_utf8_lossy(&file.data));
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::VARY, VARY)
        .body(page)
}

/// The embedded files under `/assets`, except the page templates: their `{{` marks are for
/// the server, which serves them rendered at their own paths.
pub fn assets() -> impl Endpoint<Output = Response> {
    EmbeddedFilesEndpoint::<Assets>::new().around(|files, req| async move {
        let path = req.uri().path();
        if path.ends_with('/') || path.to_ascii_lowercase().ends_with(".html") {
            return Ok(StatusCode::NOT_FOUND.into_response());
        }
        files.call(req).await
    })
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
