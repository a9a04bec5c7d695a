//! The account's connected OpenID Connect apps (`/api/account/apps`) through the real API.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consented_app_is_listed_and_revoking_it_forgets_the_consent() {
    use common::oidc_front::{answer_consent, authorize, code_of, consent_page, request, APP_CB};
    let app = common::oidc_front::spawn().await;
    let signed_in = app.sign_in(&Wallet::random()).await;
    let csrf = signed_in["csrfToken"].as_str().unwrap();
    let query = request("app", APP_CB).to_string();
    let page = consent_page(&app, &query).await;
    code_of(&answer_consent(&app, &page, "allow").await);
    // A trusted app needs no consent page: nothing is remembered, nothing listed yet.
    authorize(
        &app,
        &request("trusted", common::oidc_front::TRUSTED_CB).to_string(),
    )
    .await;

    let apps: Value = app.get("/api/account/apps").await.json().await.unwrap();
    let listed = apps.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{apps}");
    assert_eq!(listed[0]["clientId"], "app");
    assert_eq!(listed[0]["name"], "Test <App>");
    assert_eq!(listed[0]["scopes"], serde_json::json!(["openid", "email"]));
    assert_eq!(listed[0]["hasRefreshToken"], false);
    assert!(listed[0]["grantedAt"].is_string());

    let resp = app
        .call(Method::DELETE, "/api/account/apps/app", Some(csrf), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let apps: Value = app.get("/api/account/apps").await.json().await.unwrap();
    assert_eq!(apps, serde_json::json!([]));
    // The app must ask again.
    consent_page(&app, &query).await;
    expect_error(
        app.call(Method::DELETE, "/api/account/apps/app", Some(csrf), None)
            .await,
        StatusCode::NOT_FOUND,
        "app_not_found",
    )
    .await;
    let events: Value = app.get("/api/account/events").await.json().await.unwrap();
    let revoked = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "oidc_app_revoked")
        .expect("the revocation is a security event");
    assert_eq!(revoked["detail"], "app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_app_ends_its_refresh_and_access_tokens() {
    use common::oidc_front::*;
    let app = spawn().await;
    let signed_in = app.sign_in(&Wallet::random()).await;
    let csrf = signed_in["csrfToken"].as_str().unwrap();
    let query = request("app", APP_CB)
        .scope("openid email offline_access")
        .to_string();
    let page = consent_page(&app, &query).await;
    let code = code_of(&answer_consent(&app, &page, "allow").await);
    let (status, tokens) = exchange(&app, "app", Some(APP_SECRET), &code, APP_CB, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().expect("offline_access");
    // A trusted app asks no consent, yet holds a grant: it is listed too.
    let code = code_of(&authorize(&app, &request("trusted", TRUSTED_CB).to_string()).await);
    let (status, _) = exchange(
        &app,
        "trusted",
        Some(TRUSTED_SECRET),
        &code,
        TRUSTED_CB,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let apps: Value = app.get("/api/account/apps").await.json().await.unwrap();
    let by_id = |id: &str| {
        apps.as_array()
            .unwrap()
            .iter()
            .find(|a| a["clientId"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed: {apps}"))
    };
    assert_eq!(by_id("app")["hasRefreshToken"], true);
    assert_eq!(
        by_id("app")["scopes"],
        serde_json::json!(["openid", "email", "offline_access"])
    );
    assert_eq!(by_id("trusted")["hasRefreshToken"], false);

    let userinfo = || {
        reqwest::Client::new()
            .get(app.url("/oidc/userinfo"))
            .bearer_auth(access)
            .send()
    };
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::OK);
    let resp = app
        .call(Method::DELETE, "/api/account/apps/app", Some(csrf), None)
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        userinfo().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the access token stopped"
    );
    let refreshed = reqwest::Client::new()
        .post(app.url("/oidc/token"))
        .basic_auth("app", Some(APP_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    let error: Value = refreshed.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant", "the refresh token stopped");

    let apps: Value = app.get("/api/account/apps").await.json().await.unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 1, "{apps}");
    let resp = app
        .call(
            Method::DELETE,
            "/api/account/apps/trusted",
            Some(csrf),
            None,
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "a grant alone can be revoked"
    );
    let apps: Value = app.get("/api/account/apps").await.json().await.unwrap();
    assert_eq!(apps, serde_json::json!([]));
}
