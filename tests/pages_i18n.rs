//! The pages in the person's language, through the real router: the chosen language (cookie)
//! wins over the browser's `Accept-Language` (q-values, regional tags), English otherwise; the
//! language switcher's form keeps the choice and goes back only to a path on this server; the
//! theme carries the configured accent; the raw templates are not served; the pages built in
//! code (emailed links, OpenID Connect) have the same language and frame, and their forms work.

mod common;

use common::{cookie_client, expect_error, oidc_front, set_cookie, smtp, TestApp, Wallet, URI};
use reqwest::{header, Method, StatusCode};
use serde_json::json;
use siwe_server::i18n::{escape, fill, Catalogues};

/// The `<html lang>` of a page.
fn page_language(html: &str) -> &str {
    html.split("<html lang=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
}

async fn login_page(
    app: &TestApp,
    headers: &[(&str, &str)],
) -> (String, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().get(app.url("/login"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers().clone();
    (resp.text().await.unwrap(), headers)
}

/// The switcher's form, as a browser on this server's page sends it.
async fn choose(
    app: &TestApp,
    client: &reqwest::Client,
    lang: &str,
    next: &str,
) -> reqwest::Response {
    client
        .post(app.url("/ui/language"))
        .header(header::ORIGIN, URI)
        .form(&[("lang", lang), ("next", next)])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_language_picks_the_language_and_the_cookie_wins() {
    let app = TestApp::spawn().await;
    for (accept, expected) in [
        ("de-CH, en;q=0.5", "de"),
        ("it, fr;q=0.4, es;q=0.7", "es"),
        ("fr-CA;q=0.9, de;q=0.1", "fr"),
        ("de;q=0, it", "en"),
        ("zz, *", "en"),
        ("", "en"),
    ] {
        let (html, headers) = login_page(&app, &[("accept-language", accept)]).await;
        assert_eq!(page_language(&html), expected, "Accept-Language: {accept}");
        let vary = headers[header::VARY].to_str().unwrap().to_ascii_lowercase();
        assert!(
            vary.contains("accept-language") && vary.contains("cookie"),
            "{vary}"
        );
    }
    let (html, _) = login_page(&app, &[]).await;
    assert_eq!(page_language(&html), "en");
    let (html, _) = login_page(
        &app,
        &[("accept-language", "de"), ("cookie", "siwe_lang=fr")],
    )
    .await;
    assert_eq!(page_language(&html), "fr", "the chosen language wins");
    let (html, _) = login_page(
        &app,
        &[("accept-language", "de"), ("cookie", "siwe_lang=xx")],
    )
    .await;
    assert_eq!(page_language(&html), "de", "an unknown cookie is ignored");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_links_the_theme_and_has_the_switcher() {
    let app = TestApp::spawn_with(|s| s.ui.accent_color = "#aa3355".into()).await;
    for path in ["/", "/login", "/account", "/pair"] {
        let resp = reqwest::Client::new()
            .get(app.url(path))
            .header("accept-language", "de")
            .send()
            .await
            .unwrap();
        let html = resp.text().await.unwrap();
        assert!(!html.contains("{{"), "{path} has unrendered marks");
        let app_css = html.find("href=\"/assets/app.css\"").unwrap();
        let theme = html.find("href=\"/theme.css\"").expect("theme.css linked");
        assert!(theme > app_css, "{path}: theme.css after app.css");
        assert!(
            html.contains("<meta name=\"referrer\" content=\"strict-origin\">"),
            "{path}"
        );
        assert!(
            html.contains("action=\"/ui/language\""),
            "{path}: the switcher"
        );
        assert!(
            html.contains("<option value=\"de\" lang=\"de\" selected>Deutsch</option>"),
            "{path}"
        );
        assert!(
            html.contains("<option value=\"fr\" lang=\"fr\">Français</option>"),
            "{path}"
        );
        assert!(
            html.contains("<label for=\"language-select\">Sprache</label>"),
            "{path}"
        );
        assert!(
            html.contains(&format!("name=\"next\" value=\"{path}\"")),
            "{path}"
        );
    }
    let resp = app.get("/theme.css").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let css = resp.text().await.unwrap();
    assert!(css.contains("--accent: light-dark(#aa3355, "), "{css}");
    assert!(css.contains("--on-accent: light-dark(#ffffff, "), "{css}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switcher_keeps_the_language_and_goes_back_to_the_page() {
    let app = TestApp::spawn().await;
    let client = cookie_client();
    let resp = choose(&app, &client, "fr", "/account?tab=1").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/account?tab=1");
    let cookie = set_cookie(resp.headers());
    for part in [
        "siwe_lang=fr",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=31536000",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "public_url is http here: {cookie}"
    );
    let html = client
        .get(app.url("/account"))
        .header("accept-language", "de")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page_language(&html), "fr");

    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
    ] {
        let resp = choose(&app, &client, "de", next).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()[header::LOCATION], "/", "next {next:?}");
    }
    let resp = client
        .post(app.url("/ui/language"))
        .header(header::ORIGIN, URI)
        .form(&[("lang", "es")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()[header::LOCATION], "/");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switcher_refuses_other_sites_and_unknown_languages() {
    let app = TestApp::spawn().await;
    let client = cookie_client();
    expect_error(
        choose(&app, &client, "xx", "/").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    expect_error(
        choose(&app, &client, "../en", "/").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let cross = client
        .post(app.url("/ui/language"))
        .header(header::ORIGIN, "https://evil.example")
        .form(&[("lang", "de"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert!(cross.headers().get(header::SET_COOKIE).is_none());
    expect_error(cross, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    let fetch_site = client
        .post(app.url("/ui/language"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("lang", "de"), ("next", "/")])
        .send()
        .await
        .unwrap();
    expect_error(fetch_site, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookie_when_public_url_is_https() {
    let app = TestApp::spawn_with(|s| {
        s.server.public_url = "https://id.example".into();
    })
    .await;
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/ui/language"))
        .header(header::ORIGIN, "https://id.example")
        .form(&[("lang", "de"), ("next", "/login")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(resp.headers()).contains("Secure"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_not_served_raw() {
    let app = TestApp::spawn().await;
    for path in [
        "/assets/login.html",
        "/assets/account.html",
        "/assets/LOGIN.HTML",
        "/assets/",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(app.get("/assets/app.css").await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/assets/i18n/de.json").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// The catalogue of `lang`'s text of `key`, as the pages show it (escaped), with
/// `vars` filled in.
fn shown(lang: &str, key: &str, vars: &[(&str, &str)]) -> String {
    let catalogues = Catalogues::embedded().unwrap();
    let language = catalogues.get(lang).unwrap();
    escape(&fill(catalogues.text(language, key), vars))
}

/// As [`shown`], for a text with markup in `vars` (the pages escape the text, then fill in the
/// markup).
fn shown_markup(lang: &str, key: &str, vars: &[(&str, &str)]) -> String {
    let catalogues = Catalogues::embedded().unwrap();
    let language = catalogues.get(lang).unwrap();
    fill(&escape(catalogues.text(language, key)), vars)
}

/// A page built in code, in `lang`: its `<html lang>`, its title from the catalogue, the
/// theme, the switcher with `lang` chosen, the referrer policy its forms need, no catalogue key
/// left as text; and its response varies with the language.
async fn expect_page(
    resp: reqwest::Response,
    status: StatusCode,
    lang: &str,
    title: &str,
) -> String {
    assert_eq!(resp.status(), status);
    let vary = resp.headers()[header::VARY]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        vary.contains("accept-language") && vary.contains("cookie"),
        "{vary}"
    );
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let html = resp.text().await.unwrap();
    assert_eq!(page_language(&html), lang, "{html}");
    assert!(
        html.contains(&format!("<title>{title}</title>")),
        "{title} in {html}"
    );
    assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
    assert!(
        html.contains("<link rel=\"stylesheet\" href=\"/theme.css\">"),
        "{html}"
    );
    assert!(
        html.contains("<meta name=\"referrer\" content=\"strict-origin\">"),
        "{html}"
    );
    assert!(html.contains("action=\"/ui/language\""), "{html}");
    assert!(
        html.contains(&format!(
            "<option value=\"{lang}\" lang=\"{lang}\" selected>"
        )),
        "{html}"
    );
    let catalogues = Catalogues::embedded().unwrap();
    for key in catalogues.source().keys() {
        assert!(!html.contains(key), "{key} shown as text in {html}");
    }
    html
}

/// A GET in `client` (its cookies) with `Accept-Language: de` and `Accept: text/html`.
async fn get_in_german(client: &reqwest::Client, url: String) -> reqwest::Response {
    client
        .get(url)
        .header("accept-language", "de")
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
}

/// The fields of a page's own form (not the switcher's `next`).
fn form_fields(html: &str) -> Vec<(String, String)> {
    oidc_front::hidden_fields(html)
        .into_iter()
        .filter(|(name, _)| name != "next")
        .collect()
}

/// A form POST in `client` as a browser sends it from a page of this server (its `Origin`,
/// under the pages' strict-origin referrer policy), asking for German and HTML.
async fn post_in_german(
    client: &reqwest::Client,
    url: String,
    fields: &[(String, String)],
) -> reqwest::Response {
    client
        .post(url)
        .header(header::ORIGIN, URI)
        .header("accept-language", "de")
        .header(header::ACCEPT, "text/html")
        .form(fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_pages_are_in_the_requests_language_and_their_forms_still_work() {
    let app = oidc_front::spawn().await;
    let client = &app.client;
    // Not signed in: "signed out".
    let resp = get_in_german(client, app.url("/oidc/logout")).await;
    let html = expect_page(
        resp,
        StatusCode::OK,
        "de",
        &shown("de", "oidc.signed_out_title", &[]),
    )
    .await;
    assert!(html.contains("data-testid=\"signed-out\""));
    assert!(html.contains(&shown("de", "oidc.sign_in_again", &[])));

    // An unknown application: the error page, its sentence from the catalogue (else the
    // server's message), the server's message and the code.
    let query = oidc_front::request("nope", oidc_front::APP_CB).to_string();
    let resp = get_in_german(client, app.url(&format!("/oidc/authorize?{query}"))).await;
    let html = expect_page(
        resp,
        StatusCode::BAD_REQUEST,
        "de",
        &shown("de", "oidc.error_title", &[]),
    )
    .await;
    let catalogues = Catalogues::embedded().unwrap();
    let german = catalogues.get("de").unwrap();
    if catalogues
        .lookup(german, "errors.invalid_request")
        .is_some()
    {
        assert!(
            html.contains(&shown("de", "errors.invalid_request", &[])),
            "{html}"
        );
    }
    assert!(html.contains("not registered with this server"), "{html}");
    assert!(html.contains("data-error=\"invalid_request\""), "{html}");
    assert!(html.contains("data-testid=\"oidc-error\""), "{html}");

    // Signed in: the consent page, whose form still works.
    app.sign_in(&Wallet::random()).await;
    let query = oidc_front::request("app", oidc_front::APP_CB)
        .scope("openid profile email")
        .set("state", "\"><img src=x>")
        .to_string();
    let resp = get_in_german(client, app.url(&format!("/oidc/authorize?{query}"))).await;
    let title = shown("de", "oidc.consent_title", &[("client", "Test <App>")]);
    let consent = expect_page(resp, StatusCode::OK, "de", &title).await;
    assert!(!consent.contains("<App>"), "the client's name is escaped");
    assert!(
        !consent.contains("\"><img"),
        "the request's values are escaped"
    );
    for key in [
        "oidc.scope_profile",
        "oidc.scope_email",
        "oidc.allow",
        "oidc.deny",
    ] {
        assert!(consent.contains(&shown("de", key, &[])), "{key}");
    }
    assert!(
        consent.contains("name=\"next\" value=\"/oidc/authorize?"),
        "the switcher comes back to the request"
    );
    let mut fields = form_fields(&consent);
    fields.push(("decision".into(), "allow".into()));
    let resp = post_in_german(client, app.url("/oidc/consent"), &fields).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    oidc_front::code_of(&resp);
    assert_eq!(oidc_front::location(&resp).1["state"], "\"><img src=x>");

    // A consent form without a decision: the error page, in the chosen language (the cookie
    // wins over Accept-Language), the switcher going back to `/` after a POST.
    assert_eq!(
        choose(&app, client, "fr", "/").await.status(),
        StatusCode::SEE_OTHER
    );
    let resp = post_in_german(client, app.url("/oidc/consent"), &form_fields(&consent)).await;
    let html = expect_page(
        resp,
        StatusCode::BAD_REQUEST,
        "fr",
        &shown("fr", "oidc.error_title", &[]),
    )
    .await;
    assert!(html.contains("name=\"next\" value=\"/\""), "{html}");

    // The sign-out confirmation, in French; its form signs out and says so in French.
    let resp = get_in_german(client, app.url("/oidc/logout?client_id=app")).await;
    let confirm = expect_page(
        resp,
        StatusCode::OK,
        "fr",
        &shown("fr", "oidc.logout_title", &[]),
    )
    .await;
    let question = shown_markup(
        "fr",
        "oidc.logout_question_client",
        &[
            ("server", "<strong>localhost:8080</strong>"),
            ("client", "<strong>Test &lt;App&gt;</strong>"),
        ],
    );
    assert!(confirm.contains(&question), "{question} in {confirm}");
    let resp = post_in_german(client, app.url("/oidc/logout"), &form_fields(&confirm)).await;
    let html = expect_page(
        resp,
        StatusCode::OK,
        "fr",
        &shown("fr", "oidc.signed_out_title", &[]),
    )
    .await;
    assert!(html.contains("data-testid=\"signed-out\""));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_pages_are_in_the_requests_language_and_their_form_still_works() {
    let dir = tempfile::TempDir::new().unwrap();
    let sink = smtp::SmtpSink::start(dir.path());
    let app = smtp::spawn_with_email_and(&sink, |_| {}).await;
    let me = app.sign_in(&Wallet::random()).await;
    let resp = app
        .call(
            Method::PUT,
            "/api/account",
            me["csrfToken"].as_str(),
            Some(json!({"name": "Ada", "email": "ada@example.org"})),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let link = smtp::link_in(&sink.message(1).await);

    // A link that cannot be used: the error page, its sentence from the catalogue (else the
    // server's message) and the code.
    let browser = cookie_client();
    let resp = get_in_german(&browser, app.url("/api/account/verify-email?token=nope")).await;
    let html = expect_page(
        resp,
        StatusCode::BAD_REQUEST,
        "de",
        &shown("de", "link.error_title", &[]),
    )
    .await;
    let catalogues = Catalogues::embedded().unwrap();
    if catalogues
        .lookup(catalogues.get("de").unwrap(), "errors.invalid_token")
        .is_some()
    {
        assert!(
            html.contains(&shown("de", "errors.invalid_token", &[])),
            "{html}"
        );
    }
    assert!(html.contains("data-error=\"invalid_token\""), "{html}");
    assert!(
        html.contains(&shown("de", "link.go_to_sign_in", &[])),
        "{html}"
    );
    // A client that does not ask for HTML still gets the JSON error.
    expect_error(
        browser
            .get(app.url("/api/account/verify-email?token=nope"))
            .header("accept-language", "de")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;

    // The link's page, in German; the chosen French wins.
    let resp = get_in_german(&browser, app.url(&link)).await;
    let page = expect_page(
        resp,
        StatusCode::OK,
        "de",
        &shown("de", "link.verify_email_title", &[]),
    )
    .await;
    let what = shown_markup(
        "de",
        "link.verify_email_text",
        &[
            ("email", "<strong>ada@example.org</strong>"),
            ("account", "<strong>Ada</strong>"),
            ("server", "localhost:8080"),
        ],
    );
    assert!(page.contains(&what), "{what} in {page}");
    assert_eq!(
        choose(&app, &browser, "fr", "/").await.status(),
        StatusCode::SEE_OTHER
    );
    let resp = get_in_german(&browser, app.url(&link)).await;
    let page = expect_page(
        resp,
        StatusCode::OK,
        "fr",
        &shown("fr", "link.verify_email_title", &[]),
    )
    .await;
    assert!(page.contains(&shown("fr", "link.verify_email_button", &[])));

    // Its form, as the browser sends it from the page.
    let fields = form_fields(&page);
    assert_eq!(fields.len(), 2, "token and csrf");
    let verify = app.url("/api/account/verify-email");
    let resp = post_in_german(&browser, verify.clone(), &fields).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/?email_verified=1");
    // Spent: the same form again gets the error page, in French.
    let resp = post_in_german(&browser, verify, &fields).await;
    let html = expect_page(
        resp,
        StatusCode::BAD_REQUEST,
        "fr",
        &shown("fr", "link.error_title", &[]),
    )
    .await;
    assert!(html.contains("name=\"next\" value=\"/\""), "{html}");
    app.stop().await;
}
