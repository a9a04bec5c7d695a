//! The pages in the person's language, through the real router: the chosen language (cookie)
//! wins over the browser's `Accept-Language` (q-values, regional tags), English otherwise; the
//! language switcher's form keeps the choice and goes back only to a path on this server; the
//! theme carries the configured accent; the raw templates are not served.

mod common;

use common::{cookie_client, expect_error, set_cookie, TestApp, URI};
use reqwest::{header, StatusCode};

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

#[tokio::test]
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

#[tokio::test]
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

#[tokio::test]
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

#[tokio::test]
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

#[tokio::test]
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

#[tokio::test]
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
