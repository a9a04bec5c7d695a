//! The authorization endpoint and the consent page through the real router, with real SIWE
//! sign-ins and clients declared in the test config: what is a page and what is a redirect,
//! the order of the checks, sign-in freshness, consent (asked, remembered, skipped, denied).

mod common;

use common::{oidc_front::*, Wallet};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_client_or_unregistered_redirect_uri_is_a_page_never_a_redirect() {
    let app = spawn().await;
    for query in [
        request("nope", APP_CB).to_string(),
        request("app", "https://evil.example/cb").to_string(),
        request("app", APP_CB).to_string() + "&client_id=app",
        request("app", APP_CB).to_string() + "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
    ] {
        let resp = authorize(&app, &query).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(resp.headers().get("location").is_none());
        assert_eq!(header(&resp, "cache-control"), "no-store");
        assert!(header(&resp, "content-type").starts_with("text/html"));
        let html = resp.text().await.unwrap();
        assert!(html.contains("data-testid=\"oidc-error\""), "{html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_go_back_to_the_client_with_state_and_iss() {
    let app = spawn().await;
    let cases = [
        (request("app", APP_CB).scope("email"), "invalid_scope"),
        (
            request("app", APP_CB).set("response_type", "token"),
            "unsupported_response_type",
        ),
        (
            request("app", APP_CB).set("request", "eyJ"),
            "request_not_supported",
        ),
        (request("spa", SPA_CB), "invalid_request"),
        (
            request("spa", SPA_CB)
                .set("code_challenge", CHALLENGE)
                .set("code_challenge_method", "plain"),
            "invalid_request",
        ),
        (
            request("app", APP_CB).set("nonce", &"n".repeat(2049)),
            "invalid_request",
        ),
    ];
    for (query, code) in cases {
        let query = query.to_string();
        let resp = authorize(&app, &query).await;
        assert_eq!(resp.status(), StatusCode::FOUND, "{query}");
        assert_eq!(header(&resp, "cache-control"), "no-store");
        let (target, params) = location(&resp);
        assert!(target == APP_CB || target == SPA_CB, "{target}");
        assert_eq!(params["error"], code, "{query}");
        assert_eq!(params["state"], "st", "{query}");
        assert_eq!(params["iss"], ISSUER);
        assert!(!params["error_description"].is_empty());
    }
    // A repeated parameter is refused (RFC 6749 section 3.1).
    let repeated = request("app", APP_CB).to_string() + "&scope=openid";
    let (_, params) = location(&authorize(&app, &repeated).await);
    assert_eq!(params["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_signed_in_goes_to_the_login_page_and_comes_back() {
    let app = spawn().await;
    let query = request("app", APP_CB).set("nonce", "n-1").to_string();
    let next = login_next(&authorize(&app, &query).await);
    assert!(next.starts_with("/oidc/authorize?"), "{next}");
    let none = request("app", APP_CB).set("prompt", "none").to_string();
    let (_, params) = location(&authorize(&app, &none).await);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st");

    app.sign_in(&Wallet::random()).await;
    // Signed in, not yet consented: prompt=none cannot ask.
    let (_, params) = location(&authorize(&app, &none).await);
    assert_eq!(params["error"], "consent_required");
    // The login page's way back shows the consent page, whose form may answer the client.
    let resp = app.get(&next).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "cache-control"), "no-store");
    let csp = header(&resp, "content-security-policy");
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Test &lt;App&gt;"),
        "the client's name, escaped: {html}"
    );
    assert!(html.contains("your email address"));
    let fields = hidden_fields(&html);
    assert!(fields.contains(&("nonce".into(), "n-1".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_sends_a_code_and_is_remembered_deny_sends_access_denied() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let query = request("app", APP_CB).to_string();
    let page = consent_page(&app, &query).await;

    let denied = answer_consent(&app, &page, "deny").await;
    assert_eq!(denied.status(), StatusCode::SEE_OTHER);
    let (target, params) = location(&denied);
    assert_eq!(
        (target.as_str(), params["error"].as_str()),
        (APP_CB, "access_denied")
    );
    assert_eq!(params["state"], "st");
    // Denying remembers nothing.
    let _ = consent_page(&app, &query).await;

    let allowed = answer_consent(&app, &page, "allow").await;
    assert_eq!(allowed.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&allowed, "cache-control"), "no-store");
    let code = code_of(&allowed);
    assert_eq!(code.len(), 43, "256 bits, base64url: {code}");

    // Remembered: asked again, the same scopes (or fewer) get a code at once.
    let again = authorize(&app, &query).await;
    assert_eq!(again.status(), StatusCode::FOUND);
    assert_ne!(code_of(&again), code, "a new code each time");
    let fewer = request("app", APP_CB).scope("openid").to_string();
    code_of(&authorize(&app, &fewer).await);
    // More scopes, or prompt=consent, ask again.
    let more = request("app", APP_CB)
        .scope("openid email profile")
        .to_string();
    consent_page(&app, &more).await;
    let forced = request("app", APP_CB).set("prompt", "consent").to_string();
    consent_page(&app, &forced).await;

    let events = app.get("/api/account/events").await.text().await.unwrap();
    assert!(events.contains("oidc_consent_granted"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_form_needs_the_session_csrf_token_and_this_origin() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let query = request("app", APP_CB).to_string();
    let page = consent_page(&app, &query).await;
    let mut forged: Vec<(String, String)> = hidden_fields(&page)
        .into_iter()
        .filter(|(name, _)| name != "csrf")
        .collect();
    forged.push(("csrf".into(), "wrong".into()));
    forged.push(("decision".into(), "allow".into()));
    let resp = post_form(&app, "/oidc/consent", &forged, None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let mut fields = hidden_fields(&page);
    fields.push(("decision".into(), "allow".into()));
    let cross = post_form(&app, "/oidc/consent", &fields, Some("https://evil.example")).await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // Neither remembered anything.
    consent_page(&app, &query).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_client_skips_consent() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let resp = authorize(&app, &request("trusted", TRUSTED_CB).to_string()).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let (target, params) = location(&resp);
    assert_eq!(target, TRUSTED_CB);
    assert_eq!(
        (params["state"].as_str(), params["iss"].as_str()),
        ("st", ISSUER)
    );
    assert_eq!(params["code"].len(), 43);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_sign_in_forced_login_or_another_wallet_goes_to_login() {
    let app = spawn().await;
    let wallet = Wallet::random();
    app.sign_in(&wallet).await;
    let trusted = |q: TestRequest| q.to_string();
    let fresh = trusted(request("trusted", TRUSTED_CB).set("max_age", "60"));
    code_of(&authorize(&app, &fresh).await);
    app.advance_clock(61);
    let next = login_next(&authorize(&app, &fresh).await);
    assert!(next.contains("login_after="), "{next}");
    let none = trusted(
        request("trusted", TRUSTED_CB)
            .set("max_age", "60")
            .set("prompt", "none"),
    );
    assert_eq!(
        location(&authorize(&app, &none).await).1["error"],
        "login_required"
    );
    // A new sign-in satisfies the continuation.
    app.sign_in(&wallet).await;
    code_of(&app.get(&next).await);

    let login = trusted(request("trusted", TRUSTED_CB).set("prompt", "login"));
    let next = login_next(&authorize(&app, &login).await);
    assert!(
        next.contains("login_after=") && !next.contains("prompt="),
        "{next}"
    );
    app.advance_clock(1);
    app.sign_in(&wallet).await;
    code_of(&app.get(&next).await);

    let other = Wallet::random();
    let hinted = trusted(request("trusted", TRUSTED_CB).set("login_hint", &other.address));
    login_next(&authorize(&app, &hinted).await);
    let mine = trusted(request("trusted", TRUSTED_CB).set("login_hint", &wallet.address));
    code_of(&authorize(&app, &mine).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_post_is_accepted_from_any_site() {
    let app = spawn().await;
    app.sign_in(&Wallet::random()).await;
    let query = request("trusted", TRUSTED_CB);
    // From the application's site: on to the GET, which the browser sends with its cookie.
    let cross = post_form(
        &app,
        "/oidc/authorize",
        &query.pairs(),
        Some("https://app.example"),
    )
    .await;
    assert_eq!(cross.status(), StatusCode::SEE_OTHER);
    let get = header(&cross, "location");
    assert!(
        get.starts_with(&format!("{ISSUER}/oidc/authorize?")),
        "{get}"
    );
    code_of(&app.get(&get[ISSUER.len()..]).await);
    // From this server (or without Origin): answered at once.
    let same = post_form(&app, "/oidc/authorize", &query.pairs(), None).await;
    assert_eq!(same.status(), StatusCode::SEE_OTHER);
    code_of(&same);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_requests_are_rate_limited_per_address() {
    let app = spawn_with(|settings| {
        settings.rate_limit.read_per_minute = 60;
        settings.rate_limit.read_burst = 2;
    })
    .await;
    let query = request("app", APP_CB).to_string();
    for _ in 0..2 {
        assert_eq!(authorize(&app, &query).await.status(), StatusCode::FOUND);
    }
    let resp = authorize(&app, &query).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_exchanged_once_for_tokens_bound_to_its_request() {
    let app = spawn().await;
    let wallet = Wallet::random();
    app.sign_in(&wallet).await;
    let query = request("app", APP_CB).set("nonce", "n-9").to_string();
    let page = consent_page(&app, &query).await;
    let code = code_of(&answer_consent(&app, &page, "allow").await);
    let (status, tokens) = exchange(&app, "app", Some(APP_SECRET), &code, APP_CB, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "openid email");
    let id_token = verified_claims(&app, tokens["id_token"].as_str().unwrap());
    assert_eq!(
        (id_token["aud"].as_str(), id_token["nonce"].as_str()),
        (Some("app"), Some("n-9"))
    );
    assert_eq!(id_token["iss"], ISSUER);
    assert!(id_token["auth_time"].as_i64().is_some(), "{id_token}");
    // Single use, and bound to the client that asked.
    let (status, again) = exchange(&app, "app", Some(APP_SECRET), &code, APP_CB, None).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let remembered = code_of(&authorize(&app, &query).await);
    let (status, _) = exchange(
        &app,
        "trusted",
        Some(TRUSTED_SECRET),
        &remembered,
        APP_CB,
        None,
    )
    .await;
    assert_ne!(status, StatusCode::OK);

    // A public client: the code needs the verifier of its challenge.
    let pkce = request("spa", SPA_CB)
        .set("code_challenge", CHALLENGE)
        .set("code_challenge_method", "S256")
        .to_string();
    let page = consent_page(&app, &pkce).await;
    let code = code_of(&answer_consent(&app, &page, "allow").await);
    let (status, _) = exchange(&app, "spa", None, &code, SPA_CB, Some(&"x".repeat(43))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let code = code_with_pkce(&app, "spa", SPA_CB).await;
    let (status, tokens) = exchange(&app, "spa", None, &code, SPA_CB, Some(VERIFIER)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
}
