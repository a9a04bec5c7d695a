//! The OpenID Connect provider's back channel through the real router: discovery, the token
//! endpoint (code exchange, refresh), userinfo, revocation and introspection.

mod common;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

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
