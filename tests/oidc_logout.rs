//! RP-initiated logout through the real router: the GET only asks, the form's POST (same
//! origin, CSRF) ends the session and goes back only to a registered URI, with `state`.

mod common;

use common::{oidc_front::*, Wallet};
use reqwest::StatusCode;

const LOGOUT: &str = "/oidc/logout?client_id=app&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=bye-1";

async fn signed_in(app: &common::TestApp) -> bool {
    app.get("/api/auth/session").await.status() == StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_changes_nothing_and_its_form_signs_out_and_goes_back() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let page = app.get(LOGOUT).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, "cache-control"), "no-store");
    let csp = header(&page, "content-security-policy");
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Test &lt;App&gt;"), "{html}");
    assert!(signed_in(&app).await, "GET changes nothing");

    let fields = hidden_fields(&html);
    let resp = post_form(&app, "/oidc/logout", &fields, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(header(&resp, "set-cookie").contains("Max-Age=0"));
    let (target, params) = location(&resp);
    assert_eq!(
        (target.as_str(), params["state"].as_str()),
        (APP_BYE, "bye-1")
    );
    assert!(!signed_in(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_needs_the_csrf_token_and_this_origin() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let html = app.get(LOGOUT).await.text().await.unwrap();
    let fields = hidden_fields(&html);
    let without: Vec<_> = fields
        .iter()
        .filter(|(n, _)| n != "csrf")
        .cloned()
        .collect();
    let resp = post_form(&app, "/oidc/logout", &without, None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let cross = post_form(&app, "/oidc/logout", &fields, Some("https://evil.example")).await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert!(signed_in(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_registered_uri_of_the_named_client_is_gone_back_to() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    for bad in [
        "/oidc/logout?client_id=app&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
        // Registered, but for no client the request names.
        "/oidc/logout?post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye",
        "/oidc/logout?client_id=nope",
    ] {
        let resp = app.get(bad).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(resp.headers().get("location").is_none());
    }
    // Without a place to go: a confirmation, then "signed out".
    let html = app.get("/oidc/logout").await.text().await.unwrap();
    let resp = post_form(&app, "/oidc/logout", &hidden_fields(&html), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("data-testid=\"signed-out\""));
    assert!(!signed_in(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_signed_in_goes_straight_back() {
    let app = spawn().await;
    let resp = app.get(LOGOUT).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let (target, params) = location(&resp);
    assert_eq!(
        (target.as_str(), params["state"].as_str()),
        (APP_BYE, "bye-1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_hint_names_the_application() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let code = code_with_pkce(&app, "trusted", TRUSTED_CB).await;
    let (_, tokens) = exchange(
        &app,
        "trusted",
        Some(TRUSTED_SECRET),
        &code,
        TRUSTED_CB,
        Some(VERIFIER),
    )
    .await;
    let hint = tokens["id_token"]
        .as_str()
        .expect("an ID token")
        .to_string();
    // The hint's application registered no such URI; another application's hint is refused.
    let foreign = format!(
        "/oidc/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye"
    );
    assert_eq!(app.get(&foreign).await.status(), StatusCode::BAD_REQUEST);
    let mismatch = format!("/oidc/logout?id_token_hint={hint}&client_id=app");
    assert_eq!(app.get(&mismatch).await.status(), StatusCode::BAD_REQUEST);
    let page = app.get(&format!("/oidc/logout?id_token_hint={hint}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("trusted"),
        "names the application"
    );
    // RP-Initiated Logout 1.0 section 2: an expired ID token still names its application (most
    // logouts come long after the ID token's ten minutes).
    app.advance_clock(3600);
    assert_eq!(app.get(&mismatch).await.status(), StatusCode::BAD_REQUEST);
    let page = app.get(&format!("/oidc/logout?id_token_hint={hint}")).await;
    assert!(page.text().await.unwrap().contains("trusted"));
}
