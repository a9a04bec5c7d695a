//! The OpenID Connect provider's back channel through the real router: discovery, the token
//! endpoint (client authentication, code exchange, refresh), userinfo, revocation and
//! introspection. Codes come from a real SIWE sign-in and the real authorization endpoint.

mod common;

use base64::{engine::general_purpose::STANDARD, Engine};
use common::{jwt, TestApp};
use reqwest::{header, Response, StatusCode};
use serde_json::Value;
use siwe_server::config::ClientSettings;

const SECRET: &str = "s3cret+with:odd%chars/=";
const OTHER_SECRET: &str = "another-secret-value";
const RP: &str = "https://rp.example.org/cb";
const OTHER_RP: &str = "https://other.example.org/cb";
const PUBLIC_RP: &str = "http://127.0.0.1:9999/cb";

fn client(id: &str, secret: Option<&str>, redirect: &str) -> ClientSettings {
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
async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

async fn spawn_with(configure: impl FnOnce(&mut siwe_server::Settings)) -> TestApp {
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
enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    None(&'a str),
}

fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn post_form(app: &TestApp, path: &str, auth: Auth<'_>, fields: &[(&str, &str)]) -> Response {
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

async fn token(app: &TestApp, auth: Auth<'_>, fields: &[(&str, &str)]) -> Response {
    post_form(app, "/oidc/token", auth, fields).await
}

/// The status and OAuth error of a refusal, checking its RFC 6749 shape and no-store.
async fn oauth_error(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_string())
}

async fn expect_oauth_error(resp: Response, status: StatusCode, code: &str) {
    let (actual_status, actual_code) = oauth_error(resp).await;
    assert_eq!((actual_status, actual_code.as_str()), (status, code));
}

async fn userinfo(app: &TestApp, access_token: &str) -> Response {
    reqwest::Client::new()
        .get(app.url("/oidc/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

const RP_AUTH: Auth<'static> = Auth::Basic("rp", SECRET);

#[tokio::test]
async fn discovery_names_every_endpoint_under_the_issuer() {
    let app = TestApp::spawn().await;
    let resp = app.get("/.well-known/openid-configuration").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cache = resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let doc: Value = resp.json().await.unwrap();
    let issuer = "http://localhost:8080";
    assert_eq!(doc["issuer"], issuer);
    for (field, path) in [
        ("authorization_endpoint", "/oidc/authorize"),
        ("token_endpoint", "/oidc/token"),
        ("userinfo_endpoint", "/oidc/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("end_session_endpoint", "/oidc/logout"),
        ("revocation_endpoint", "/oidc/revoke"),
        ("introspection_endpoint", "/oidc/introspect"),
    ] {
        assert_eq!(doc[field], format!("{issuer}{path}"), "{field}");
    }
    let list = |field: &str| -> Vec<String> {
        doc[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} is a list"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list("response_types_supported"), ["code"]);
    assert_eq!(list("response_modes_supported"), ["query"]);
    assert_eq!(list("code_challenge_methods_supported"), ["S256"]);
    assert_eq!(list("subject_types_supported"), ["public", "pairwise"]);
    assert_eq!(
        list("id_token_signing_alg_values_supported"),
        ["RS256", "EdDSA"]
    );
    assert_eq!(
        list("grant_types_supported"),
        ["authorization_code", "refresh_token"]
    );
    assert_eq!(
        list("token_endpoint_auth_methods_supported"),
        ["client_secret_basic", "client_secret_post", "none"]
    );
    assert!(list("scopes_supported").contains(&"openid".to_string()));
    let claims = list("claims_supported");
    assert!(claims.contains(&"eth_address".to_string()));
    assert!(!claims.contains(&"address".to_string()));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    for flag in [
        "claims_parameter_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
    ] {
        assert_eq!(doc[flag], false, "{flag}");
    }
}

#[tokio::test]
async fn clients_that_fail_to_authenticate_get_401_with_a_basic_challenge() {
    let app = spawn().await;
    let grant = [("grant_type", "authorization_code"), ("code", "nope")];
    for auth in [
        Auth::Basic("rp", "wrong-secret-value"),
        Auth::Post("rp", "wrong-secret-value"),
        Auth::Basic("stranger", SECRET),
        // A confidential client must authenticate; a public one must not present a secret.
        Auth::None("rp"),
        Auth::Post("spa", SECRET),
    ] {
        let resp = token(&app, auth, &grant).await;
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"siwe-server\""
        );
        expect_oauth_error(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    // Authenticated each way (the url-encoded secret decoded from Basic), the grant is judged.
    for auth in [RP_AUTH, Auth::Post("rp", SECRET), Auth::None("spa")] {
        let resp = token(&app, auth, &grant).await;
        expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // A malformed Basic header is no client at all.
    let resp = reqwest::Client::new()
        .post(app.url("/oidc/token"))
        .header(header::AUTHORIZATION, "Basic not-base64!")
        .form(&grant)
        .send()
        .await
        .unwrap();
    expect_oauth_error(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn malformed_token_requests_are_oauth_errors() {
    let app = spawn().await;
    let resp = token(&app, RP_AUTH, &[("grant_type", "password")]).await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    let resp = token(&app, RP_AUTH, &[("code", "x")]).await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    let resp = token(&app, RP_AUTH, &[("grant_type", "authorization_code")]).await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Two ways of authenticating at once.
    let resp = token(
        &app,
        RP_AUTH,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_secret", SECRET),
        ],
    )
    .await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A repeated parameter.
    let resp = token(
        &app,
        RP_AUTH,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("code", "y"),
        ],
    )
    .await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    // JSON instead of a form.
    let resp = reqwest::Client::new()
        .post(app.url("/oidc/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn userinfo_refuses_missing_forged_and_foreign_tokens_with_a_bearer_challenge() {
    let app = spawn().await;
    let resp = reqwest::Client::new()
        .get(app.url("/oidc/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    // Garbage, and a token signed by our key but naming no grant.
    for token in ["garbage".to_string(), jwt::rs256_token(&app, "rp", 60)] {
        let resp = userinfo(&app, &token).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer realm=\"siwe-server\", error=\"invalid_token\""
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn introspection_is_for_confidential_clients_and_revocation_of_unknown_tokens_is_ok() {
    let app = spawn().await;
    let resp = post_form(
        &app,
        "/oidc/introspect",
        Auth::None("spa"),
        &[("token", "x")],
    )
    .await;
    expect_oauth_error(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let resp = post_form(&app, "/oidc/introspect", RP_AUTH, &[("token", "unknown")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        serde_json::json!({"active": false})
    );
    let resp = post_form(&app, "/oidc/revoke", RP_AUTH, &[("token", "unknown")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = post_form(
        &app,
        "/oidc/revoke",
        Auth::Basic("rp", "bad-secret-value"),
        &[("token", "x")],
    )
    .await;
    expect_oauth_error(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn the_token_endpoint_is_limited_per_client_whatever_the_address() {
    let app = spawn_with(|s| {
        s.rate_limit.auth_per_minute = 30;
        s.rate_limit.auth_burst = 2;
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        // Each request from another address: only the client's limit can refuse.
        let resp = reqwest::Client::new()
            .post(app.url("/oidc/token"))
            .header("x-forwarded-for", format!("198.51.100.{}", i + 1))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", "rp"),
                ("client_secret", SECRET),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
    }
    assert_eq!(
        statuses[..2],
        [StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST]
    );
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
}
