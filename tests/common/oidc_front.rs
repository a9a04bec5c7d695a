//! The OpenID Connect front channel from a browser's side: a server with test clients, the
//! authorization request, the consent page's form, where a redirect goes.

use std::collections::HashMap;

use reqwest::{Response, StatusCode};
use serde_json::json;

use super::TestApp;

pub const ISSUER: &str = "http://localhost:8080";
/// A confidential client asking for consent.
pub const APP_CB: &str = "https://app.example/cb";
pub const APP_BYE: &str = "https://app.example/bye";
pub const APP_SECRET: &str = "app-secret-0123456789";
/// A public client (PKCE required).
pub const SPA_CB: &str = "http://127.0.0.1:9999/cb";
/// A trusted client (no consent page).
pub const TRUSTED_CB: &str = "https://trusted.example/cb";
pub const TRUSTED_SECRET: &str = "trusted-secret-0123456789";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A server with the clients `app` (confidential, named `Test <App>`), `spa` (public) and
/// `trusted`.
pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// As [`spawn`], with other settings changed too.
pub async fn spawn_with(configure: impl FnOnce(&mut siwe_server::Settings)) -> TestApp {
    TestApp::spawn_with(|settings| {
        configure(settings);
        settings.oidc.clients = serde_json::from_value(json!([
            {
                "id": "app", "name": "Test <App>", "secret": APP_SECRET,
                "redirect_uris": [APP_CB], "post_logout_redirect_uris": [APP_BYE],
                "scopes": ["openid", "profile", "email", "offline_access"]
            },
            { "id": "spa", "public": true, "redirect_uris": [SPA_CB] },
            {
                "id": "trusted", "secret": TRUSTED_SECRET, "trusted": true,
                "redirect_uris": [TRUSTED_CB]
            },
        ]))
        .expect("test clients");
    })
    .await
}

/// An authorization request's parameters, in order.
#[derive(Clone)]
pub struct TestRequest(Vec<(String, String)>);

/// `response_type=code`, the client and redirect URI, `scope=openid email`, `state=st`.
pub fn request(client_id: &str, redirect_uri: &str) -> TestRequest {
    TestRequest(vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client_id.into()),
        ("redirect_uri".into(), redirect_uri.into()),
        ("scope".into(), "openid email".into()),
        ("state".into(), "st".into()),
    ])
}

impl TestRequest {
    /// Sets (or adds) a parameter.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value.into(),
            None => self.0.push((name.into(), value.into())),
        }
        self
    }

    pub fn scope(self, scope: &str) -> Self {
        self.set("scope", scope)
    }

    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0.clone()
    }
}

impl std::fmt::Display for TestRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.0)
            .finish();
        f.write_str(&query)
    }
}

/// GET /oidc/authorize with the app's cookies.
pub async fn authorize(app: &TestApp, query: &str) -> Response {
    app.get(&format!("/oidc/authorize?{query}")).await
}

/// A form POST with the app's cookies, and an `Origin` if given.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    fields: &[(String, String)],
    origin: Option<&str>,
) -> Response {
    let mut req = app.client.post(app.url(path)).form(fields);
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    req.send().await.unwrap()
}

pub fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Where a redirect goes: the URL without its query, and the query's parameters.
pub fn location(resp: &Response) -> (String, HashMap<String, String>) {
    let status = resp.status();
    assert!(status.is_redirection(), "not a redirect: {status}");
    let url = url::Url::parse(&header(resp, "location")).expect("absolute Location");
    let params = url.query_pairs().into_owned().collect();
    let mut target = url.clone();
    target.set_query(None);
    (target.to_string(), params)
}

/// The `code` of a redirect to the client, checking `iss`.
pub fn code_of(resp: &Response) -> String {
    let (_, params) = location(resp);
    assert_eq!(params.get("iss").map(String::as_str), Some(ISSUER));
    params
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {params:?}"))
}

/// The `next` of a redirect to the login page (the way back to the request).
pub fn login_next(resp: &Response) -> String {
    let (target, params) = location(resp);
    assert_eq!(target, format!("{ISSUER}/login"));
    params["next"].clone()
}

/// The consent page for `query` (which must ask for it).
pub async fn consent_page(app: &TestApp, query: &str) -> String {
    let resp = authorize(app, query).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "the consent page for {query}"
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("action=\"/oidc/consent\""), "{html}");
    html
}

/// Sends the consent page's form with `decision`.
pub async fn answer_consent(app: &TestApp, page: &str, decision: &str) -> Response {
    let mut fields = hidden_fields(page);
    fields.push(("decision".into(), decision.into()));
    post_form(app, "/oidc/consent", &fields, None).await
}

/// The hidden fields of a page's form, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let attr = |name: &str| {
                let start = input.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
                let len = input[start..].find('"').expect("closing quote");
                unescape(&input[start..start + len])
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A code for `client_id` (which must be trusted, or consented to) with PKCE's RFC example.
pub async fn code_with_pkce(app: &TestApp, client_id: &str, redirect_uri: &str) -> String {
    let query = request(client_id, redirect_uri)
        .set("code_challenge", CHALLENGE)
        .set("code_challenge_method", "S256")
        .to_string();
    code_of(&authorize(app, &query).await)
}

/// Exchanges `code` at the token endpoint: HTTP Basic with `secret`, else as a public client
/// with `verifier`. Returns the status and the JSON answer.
pub async fn exchange(
    app: &TestApp,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    let mut req = reqwest::Client::new().post(app.url("/oidc/token"));
    match secret {
        // Both are URL-safe already, so their form encoding is themselves (RFC 6749 2.3.1).
        Some(secret) => req = req.basic_auth(client_id, Some(secret)),
        None => form.push(("client_id", client_id)),
    }
    let resp = req.form(&form).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

/// The claims of a JWT this server signed, verified with its keys.
pub fn verified_claims(app: &TestApp, token: &str) -> serde_json::Value {
    super::jwt::server_keys(app)
        .verify(token)
        .expect("a token of this server")
}
