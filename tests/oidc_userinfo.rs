//! What relying parties and resource servers learn after the token endpoint, through the real
//! router: userinfo (claims per scope, the account as it is now, GET and POST), pairwise
//! subjects and EdDSA ID tokens, introspection and revocation.

mod common;

use base64::Engine;
use common::{jwt, oidc_back::*, Wallet};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

/// Tokens of `client` for the signed-in browser of `app`, for `scope`.
async fn tokens_for(
    app: &common::TestApp,
    auth: Auth<'_>,
    client: &str,
    redirect: &str,
    scope: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let code = code_for(app, pkce_request(client, redirect, scope, &challenge)).await;
    tokens(exchange(app, auth, &code, redirect, &verifier).await).await
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {body}"))
}

async fn userinfo_json(app: &common::TestApp, access_token: &str) -> Value {
    let resp = userinfo(app, access_token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_releases_what_the_scopes_allow_from_the_account_as_it_is_now() {
    let app = spawn().await;
    let (first, second) = (Wallet::random(), Wallet::random());
    let me = app.sign_in(&first).await;
    let id = me["user"]["id"].clone();

    let bare = tokens_for(&app, RP_AUTH, "rp", RP, "openid").await;
    assert_eq!(
        userinfo_json(&app, field(&bare, "access_token")).await,
        json!({ "sub": id })
    );

    let wallets = tokens_for(&app, RP_AUTH, "rp", RP, "openid wallets").await;
    let access_token = field(&wallets, "access_token");
    let claims = userinfo_json(&app, access_token).await;
    assert_eq!(claims["eth_address"], first.address);
    assert_eq!(claims["wallets"], json!([first.address]));
    assert!(claims.get("name").is_none() && claims.get("email").is_none());

    // A wallet linked after the token was issued shows at once.
    let csrf = me["csrfToken"].as_str().unwrap();
    assert_eq!(app.link(csrf, &second).await.status(), StatusCode::CREATED);
    let claims = userinfo_json(&app, access_token).await;
    assert_eq!(claims["wallets"], json!([first.address, second.address]));

    let profile = tokens_for(&app, RP_AUTH, "rp", RP, "openid profile email").await;
    let claims = userinfo_json(&app, field(&profile, "access_token")).await;
    // The default name (the short address) gives way to the full primary address.
    assert_eq!(claims["name"], first.address);
    assert_eq!(claims["preferred_username"], first.address);
    assert!(claims.get("address").is_none(), "{claims}");
    // No email on the account: no email claims.
    assert!(claims.get("email").is_none(), "{claims}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_takes_the_token_by_post_form_but_not_two_ways_at_once() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let body = tokens_for(&app, RP_AUTH, "rp", RP, "openid").await;
    let access_token = field(&body, "access_token");
    let post = |bearer: bool| {
        let mut req = reqwest::Client::new()
            .post(app.url("/oidc/userinfo"))
            .form(&[("access_token", access_token)]);
        if bearer {
            req = req.bearer_auth(access_token);
        }
        req.send()
    };
    assert_eq!(post(false).await.unwrap().status(), StatusCode::OK);
    expect_oauth_error(
        post(true).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // A POST with the header alone and no body.
    let resp = reqwest::Client::new()
        .post(app.url("/oidc/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairwise_client_gets_its_own_stable_subject_and_eddsa_tokens() {
    let app = spawn().await;
    let me = app.sign_in(&Wallet::random()).await;
    let other_auth = Auth::Basic("other", OTHER_SECRET);
    let first = tokens_for(&app, other_auth, "other", OTHER_RP, "openid").await;
    let id_token = field(&first, "id_token");
    assert_eq!(jwt::jwt_header(id_token)["alg"], "EdDSA");
    let claims = jwt::pyjwt_verify(&app, id_token, "other", 0, "EdDSA")
        .await
        .unwrap();
    // at_hash with EdDSA (Ed25519): the left half of SHA-512.
    let digest = sha2::Sha512::digest(field(&first, "access_token").as_bytes());
    let at_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..32]);
    assert_eq!(claims["at_hash"], at_hash);

    let sub = claims["sub"].as_str().unwrap().to_string();
    assert_ne!(sub, me["user"]["id"].as_str().unwrap());
    let again = tokens_for(&app, other_auth, "other", OTHER_RP, "openid").await;
    let claims = userinfo_json(&app, field(&again, "access_token")).await;
    assert_eq!(claims["sub"], sub, "stable");
    let public = tokens_for(&app, RP_AUTH, "rp", RP, "openid").await;
    let claims = userinfo_json(&app, field(&public, "access_token")).await;
    assert_eq!(claims["sub"], me["user"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_says_active_only_for_live_tokens_of_the_caller() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let body = tokens_for(&app, RP_AUTH, "rp", RP, "openid offline_access").await;
    let introspect = |auth: Auth<'static>, token: String| {
        let app = &app;
        async move {
            let resp = post_form(app, "/oidc/introspect", auth, &[("token", &token)]).await;
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<Value>().await.unwrap()
        }
    };
    let access_token = field(&body, "access_token").to_string();
    let refresh_token = field(&body, "refresh_token").to_string();
    let access = introspect(RP_AUTH, access_token.clone()).await;
    assert_eq!(access["active"], true);
    assert_eq!(access["token_type"], "Bearer");
    assert_eq!(access["client_id"], "rp");
    assert_eq!(access["scope"], "openid offline_access");
    assert_eq!(access["iss"], common::oidc_front::ISSUER);
    assert_eq!(access["aud"], "rp");
    // A resource server (another client) may ask about an access token...
    let other = Auth::Basic("other", OTHER_SECRET);
    assert_eq!(
        introspect(other, access_token.clone()).await["active"],
        true
    );
    // ...but a refresh token is its client's alone.
    let refresh = introspect(RP_AUTH, refresh_token.clone()).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
    assert_eq!(
        introspect(other, refresh_token.clone()).await,
        json!({"active": false})
    );

    app.advance_clock(601);
    assert_eq!(
        introspect(RP_AUTH, access_token).await,
        json!({"active": false})
    );
    assert_eq!(introspect(RP_AUTH, refresh_token).await["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_refresh_or_access_token_ends_its_grant() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let revoke = |auth: Auth<'static>, token: String| {
        let app = &app;
        async move {
            let resp = post_form(app, "/oidc/revoke", auth, &[("token", &token)]).await;
            assert_eq!(resp.status(), StatusCode::OK);
        }
    };
    let scope = "openid offline_access";

    let body = tokens_for(&app, RP_AUTH, "rp", RP, scope).await;
    // Another client's revocation changes nothing.
    revoke(
        Auth::Basic("other", OTHER_SECRET),
        field(&body, "refresh_token").into(),
    )
    .await;
    revoke(
        Auth::Basic("other", OTHER_SECRET),
        field(&body, "access_token").into(),
    )
    .await;
    assert_eq!(
        userinfo(&app, field(&body, "access_token")).await.status(),
        StatusCode::OK
    );
    revoke(RP_AUTH, field(&body, "refresh_token").into()).await;
    assert_eq!(
        userinfo(&app, field(&body, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = refresh(&app, RP_AUTH, field(&body, "refresh_token")).await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let body = tokens_for(&app, RP_AUTH, "rp", RP, scope).await;
    revoke(RP_AUTH, field(&body, "access_token").into()).await;
    assert_eq!(
        userinfo(&app, field(&body, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = refresh(&app, RP_AUTH, field(&body, "refresh_token")).await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
