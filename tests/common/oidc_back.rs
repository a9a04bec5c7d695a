//! The OpenID Connect back channel from a relying party's side: a server with test clients,
//! client authentication each way, codes from the real authorization endpoint (for a browser
//! that is signed in), token, refresh and userinfo requests.

use base64::{engine::general_purpose::STANDARD, Engine};
use reqwest::{header, Response, StatusCode};
use serde_json::Value;
use siwe_server::config::ClientSettings;

use super::{
    oidc_front::{authorize, code_of, request, TestRequest},
    TestApp,
};

pub const SECRET: &str = "s3cret+with:odd%chars/=";
pub const OTHER_SECRET: &str = "another-secret-value";
pub const RP: &str = "https://rp.example.org/cb";
pub const OTHER_RP: &str = "https://other.example.org/cb";
pub const PUBLIC_RP: &str = "http://127.0.0.1:9999/cb";

pub fn client(id: &str, secret: Option<&str>, redirect: &str) -> ClientSettings {
    ClientSettings {
        id: id.into(),
        name: id.into(),
        secret: secret.map(|s| s.to_string().into()),
        secret_file: None,
        public: secret.is_none(),
        redirect_uris: vec![redirect.into()],
        post_logout_redirect_uris: vec![],
        scopes: None,
        trusted: true,
        subject: "public".into(),
        id_token_alg: "RS256".into(),
    }
}

/// A server with a confidential client `rp` (RS256), `other` (pairwise, EdDSA), a public
/// client `spa`, and `noffline` (no offline_access allowed); all trusted (no consent page).
pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(configure: impl FnOnce(&mut siwe_server::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        let mut other = client("other", Some(OTHER_SECRET), OTHER_RP);
        other.subject = "pairwise".into();
        other.id_token_alg = "EdDSA".into();
        let mut noffline = client("noffline", Some(OTHER_SECRET), RP);
        noffline.scopes = Some(vec!["openid".into(), "profile".into()]);
        s.oidc.clients = vec![
            client("rp", Some(SECRET), RP),
            other,
            client("spa", None, PUBLIC_RP),
            noffline,
        ];
        configure(s);
    })
    .await
}

/// How a test client authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    None(&'a str),
}

pub fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub async fn post_form(
    app: &TestApp,
    path: &str,
    auth: Auth<'_>,
    fields: &[(&str, &str)],
) -> Response {
    let mut form: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut req = reqwest::Client::new().post(app.url(path));
    match auth {
        Auth::Basic(id, secret) => {
            let pair = format!("{}:{}", form_encode(id), form_encode(secret));
            req = req.header(
                header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(pair)),
            );
        }
        Auth::Post(id, secret) => {
            form.push(("client_id".into(), id.into()));
            form.push(("client_secret".into(), secret.into()));
        }
        Auth::None(id) => form.push(("client_id".into(), id.into())),
    }
    req.form(&form).send().await.unwrap()
}

pub async fn token(app: &TestApp, auth: Auth<'_>, fields: &[(&str, &str)]) -> Response {
    post_form(app, "/oidc/token", auth, fields).await
}

/// The status and OAuth error of a refusal, checking its RFC 6749 shape and no-store.
pub async fn oauth_error(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_string())
}

pub async fn expect_oauth_error(resp: Response, status: StatusCode, code: &str) {
    let (actual_status, actual_code) = oauth_error(resp).await;
    assert_eq!((actual_status, actual_code.as_str()), (status, code));
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    use sha2::Digest;
    let verifier = siwe_server::domain::token::random_secret();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A code from the real authorization endpoint for the signed-in browser of `app` (the
/// clients are trusted: no consent page).
pub async fn code_for(app: &TestApp, query: TestRequest) -> String {
    code_of(&authorize(app, &query.to_string()).await)
}

/// An authorization request of `client_id` for `scope` with a nonce and `challenge`.
pub fn pkce_request(
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &str,
) -> TestRequest {
    request(client_id, redirect_uri)
        .scope(scope)
        .set("nonce", "n0nce")
        .set("code_challenge", challenge)
        .set("code_challenge_method", "S256")
}

/// Every scope this server knows.
pub const ALL_SCOPES: &str = "openid profile email wallets offline_access";

/// A code for `rp` with every scope, a nonce and PKCE; returns it with its verifier.
pub async fn rp_code(app: &TestApp) -> (String, String) {
    let (verifier, challenge) = pkce();
    let code = code_for(app, pkce_request("rp", RP, ALL_SCOPES, &challenge)).await;
    (code, verifier)
}

pub async fn exchange(
    app: &TestApp,
    auth: Auth<'_>,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Response {
    token(
        app,
        auth,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// The tokens of a successful answer, checking no-store.
pub async fn tokens(resp: Response) -> Value {
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    resp.json().await.unwrap()
}

pub async fn refresh(app: &TestApp, auth: Auth<'_>, refresh_token: &str) -> Response {
    token(
        app,
        auth,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

pub async fn userinfo(app: &TestApp, access_token: &str) -> Response {
    reqwest::Client::new()
        .get(app.url("/oidc/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

pub const RP_AUTH: Auth<'static> = Auth::Basic("rp", SECRET);
