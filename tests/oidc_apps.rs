//! The account's connected OpenID Connect apps (`/api/account/apps`) through the real API.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn connected_apps_need_a_session_and_deleting_needs_csrf() {
    let app = TestApp::spawn().await;
    expect_error(
        app.get("/api/account/apps").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let signed_in = app.sign_in(&Wallet::random()).await;
    let csrf = signed_in["csrfToken"].as_str().unwrap();
    let apps: Value = app.get("/api/account/apps").await.json().await.unwrap();
    assert_eq!(apps, serde_json::json!([]), "no app has been let in yet");
    expect_error(
        app.call(Method::DELETE, "/api/account/apps/grafana", None, None)
            .await,
        StatusCode::FORBIDDEN,
        "csrf_invalid",
    )
    .await;
    expect_error(
        app.call(
            Method::DELETE,
            "/api/account/apps/grafana",
            Some(csrf),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "app_not_found",
    )
    .await;
}
