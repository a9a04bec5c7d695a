//! The OpenID Connect provider's token endpoint through the real router: discovery, client
//! authentication, code exchange and refresh. Codes come from a real SIWE sign-in and the real
//! authorization endpoint.

mod common;

use common::{jwt, oidc_back::*, oidc_front::request, TestApp};
use reqwest::{header, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// `at_hash` as OpenID Connect Core 3.1.3.6 defines it for RS256.
fn at_hash_rs256(access_token: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_exchanged_once_for_tokens_an_independent_verifier_accepts() {
    let app = spawn().await;
    let wallet = common::Wallet::random();
    let me = app.sign_in(&wallet).await;
    let (code, verifier) = rp_code(&app).await;
    let body = tokens(exchange(&app, RP_AUTH, &code, RP, &verifier).await).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], ALL_SCOPES);
    assert!(body["refresh_token"].is_string());
    let access_token = body["access_token"].as_str().unwrap();
    let id_token = body["id_token"].as_str().unwrap();

    // PyJWT checks signature (RS256, by the JWKS), iss, aud, exp, iat.
    let claims = jwt::pyjwt_verify(&app, id_token, "rp", 0, "RS256")
        .await
        .unwrap();
    assert_eq!(claims["sub"], me["user"]["id"]);
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["at_hash"], at_hash_rs256(access_token));
    assert_eq!(claims["amr"], serde_json::json!(["pop"]));
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(auth_time <= claims["iat"].as_i64().unwrap());
    assert_eq!(claims["eth_address"], wallet.address);
    assert!(claims.get("address").is_none());
    assert_eq!(jwt::jwt_header(id_token)["alg"], "RS256");

    let access = jwt::pyjwt_verify(&app, access_token, "rp", 0, "RS256")
        .await
        .unwrap();
    assert_eq!(jwt::jwt_header(access_token)["typ"], "at+jwt");
    assert_eq!(access["client_id"], "rp");
    assert_eq!(access["scope"], ALL_SCOPES);
    assert_eq!(userinfo(&app, access_token).await.status(), StatusCode::OK);

    // The ID token is no access token.
    assert_eq!(
        userinfo(&app, id_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_bound_to_its_client_redirect_uri_and_pkce_verifier_and_expires() {
    let app = spawn().await;
    app.sign_in(&common::Wallet::random()).await;
    let (code, verifier) = rp_code(&app).await;
    let wrong = exchange(&app, RP_AUTH, &code, RP, &pkce().0).await;
    expect_oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // A refused exchange spent the code.
    let spent = exchange(&app, RP_AUTH, &code, RP, &verifier).await;
    expect_oauth_error(spent, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let (code, _) = rp_code(&app).await;
    let missing = token(
        &app,
        RP_AUTH,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP),
        ],
    )
    .await;
    expect_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let (code, verifier) = rp_code(&app).await;
    let elsewhere = exchange(
        &app,
        RP_AUTH,
        &code,
        "https://rp.example.org/other",
        &verifier,
    )
    .await;
    expect_oauth_error(elsewhere, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let (code, verifier) = rp_code(&app).await;
    let stolen = exchange(
        &app,
        Auth::Basic("other", OTHER_SECRET),
        &code,
        RP,
        &verifier,
    )
    .await;
    expect_oauth_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // A confidential client may leave PKCE out; then a verifier is refused.
    let plain = code_for(&app, request("rp", RP).scope("openid")).await;
    let verifier_without_challenge = exchange(&app, RP_AUTH, &plain, RP, &pkce().0).await;
    expect_oauth_error(
        verifier_without_challenge,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let plain = code_for(&app, request("rp", RP).scope("openid")).await;
    // redirect_uri may be left out when the client has exactly one.
    let resp = token(
        &app,
        RP_AUTH,
        &[("grant_type", "authorization_code"), ("code", &plain)],
    )
    .await;
    assert_eq!(tokens(resp).await["scope"], "openid");

    let (code, verifier) = rp_code(&app).await;
    app.advance_clock(61);
    let expired = exchange(&app, RP_AUTH, &code, RP, &verifier).await;
    expect_oauth_error(expired, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_revokes_the_tokens_issued_for_it() {
    let app = spawn().await;
    app.sign_in(&common::Wallet::random()).await;
    let (code, verifier) = rp_code(&app).await;
    let first = tokens(exchange(&app, RP_AUTH, &code, RP, &verifier).await).await;
    let access_token = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access_token).await.status(), StatusCode::OK);

    let replay = exchange(&app, RP_AUTH, &code, RP, &verifier).await;
    expect_oauth_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo(&app, access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = refresh(&app, RP_AUTH, first["refresh_token"].as_str().unwrap()).await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let events: Value = app.get("/api/account/events").await.json().await.unwrap();
    let replayed = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "oidc_code_replay");
    assert_eq!(replayed.expect("a replay event")["detail"], "rp");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let app = spawn().await;
    app.sign_in(&common::Wallet::random()).await;
    let (code, verifier) = rp_code(&app).await;
    let first = tokens(exchange(&app, RP_AUTH, &code, RP, &verifier).await).await;
    let first_claims =
        jwt::pyjwt_verify(&app, first["id_token"].as_str().unwrap(), "rp", 0, "RS256")
            .await
            .unwrap();
    let r1 = first["refresh_token"].as_str().unwrap();

    app.advance_clock(30);
    let second = tokens(refresh(&app, Auth::Post("rp", SECRET), r1).await).await;
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    let claims = jwt::pyjwt_verify(
        &app,
        second["id_token"].as_str().unwrap(),
        "rp",
        30,
        "RS256",
    )
    .await
    .unwrap();
    assert!(claims.get("nonce").is_none());
    assert_eq!(claims["auth_time"], first_claims["auth_time"]);
    assert_eq!(claims["sub"], first_claims["sub"]);

    // Narrower, never wider.
    let narrow = token(
        &app,
        RP_AUTH,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r2),
            ("scope", "openid email"),
        ],
    )
    .await;
    let third = tokens(narrow).await;
    assert_eq!(third["scope"], "openid email");
    let r3 = third["refresh_token"].as_str().unwrap();
    let access_token = third["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access_token).await.status(), StatusCode::OK);

    // Another client cannot use it.
    let foreign = refresh(&app, Auth::Basic("other", OTHER_SECRET), r3).await;
    expect_oauth_error(foreign, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // r1 again: the whole family ends, the newest token and its access token too.
    let reuse = refresh(&app, RP_AUTH, r1).await;
    expect_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let resp = refresh(&app, RP_AUTH, r3).await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo(&app, access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let events: Value = app.get("/api/account/events").await.json().await.unwrap();
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "oidc_refresh_reuse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_may_not_widen_the_scopes_and_needs_offline_access() {
    let app = spawn().await;
    app.sign_in(&common::Wallet::random()).await;
    let (verifier, challenge) = pkce();
    let narrow = code_for(
        &app,
        pkce_request("rp", RP, "openid profile offline_access", &challenge),
    )
    .await;
    let body = tokens(exchange(&app, RP_AUTH, &narrow, RP, &verifier).await).await;
    let wider = token(
        &app,
        RP_AUTH,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("scope", "openid email"),
        ],
    )
    .await;
    expect_oauth_error(wider, StatusCode::BAD_REQUEST, "invalid_scope").await;

    // Without offline_access, or for a client not allowed it: no refresh token.
    let (verifier, challenge) = pkce();
    let online = code_for(&app, pkce_request("rp", RP, "openid profile", &challenge)).await;
    let body = tokens(exchange(&app, RP_AUTH, &online, RP, &verifier).await).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    let (verifier, challenge) = pkce();
    let noffline = code_for(&app, pkce_request("noffline", RP, ALL_SCOPES, &challenge)).await;
    let body = tokens(
        exchange(
            &app,
            Auth::Basic("noffline", OTHER_SECRET),
            &noffline,
            RP,
            &verifier,
        )
        .await,
    )
    .await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    // An access token is no refresh token.
    let resp = refresh(
        &app,
        Auth::Basic("noffline", OTHER_SECRET),
        body["access_token"].as_str().unwrap(),
    )
    .await;
    expect_oauth_error(resp, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_client_exchanges_with_its_verifier_and_no_secret() {
    let app = spawn().await;
    app.sign_in(&common::Wallet::random()).await;
    let (verifier, challenge) = pkce();
    let code = code_for(
        &app,
        pkce_request("spa", PUBLIC_RP, "openid wallets", &challenge),
    )
    .await;
    let body = tokens(exchange(&app, Auth::None("spa"), &code, PUBLIC_RP, &verifier).await).await;
    assert_eq!(body["scope"], "openid wallets");
}
