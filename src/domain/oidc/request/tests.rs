//! The checks of an authorization request, one rule at a time.

use super::*;
use crate::domain::oidc::client::SubjectType;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const ADDRESS: &str = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2";

fn client(public: bool, uris: &[&str]) -> Client {
    Client {
        id: "app".into(),
        name: "App".into(),
        secret_mac: (!public).then_some([0; 32]),
        redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
        post_logout_redirect_uris: Vec::new(),
        scopes: Scopes::parse_known("openid profile email"),
        trusted: false,
        subject: SubjectType::Public,
        id_token_alg: Default::default(),
    }
}

fn params(query: &str) -> Params {
    Params::from_urlencoded(query.as_bytes())
}

fn base() -> String {
    "client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code\
     &scope=openid+email&state=s1"
        .into()
}

fn check(query: &str) -> Result<AuthorizationRequest, Refusal> {
    AuthorizationRequest::validate(&params(query), &client(false, &["https://app.example/cb"]))
}

fn redirected_error(query: &str) -> ErrorCode {
    match check(query) {
        Err(Refusal::Redirect(r)) => {
            assert_eq!(r.redirect_uri, "https://app.example/cb");
            r.error
        }
        other => panic!("not a redirect: {other:?}"),
    }
}

#[test]
fn a_good_request_is_typed_and_unknown_or_unallowed_scopes_dropped() {
    let request = check(&format!(
        "{}&scope=openid+email+wallets+phone&nonce=n&code_challenge={CHALLENGE}\
         &code_challenge_method=S256&max_age=60&login_hint={ADDRESS}",
        base().replace("&scope=openid+email", "")
    ))
    .unwrap();
    assert_eq!(request.scopes.to_string(), "openid email");
    assert_eq!(request.state.as_deref(), Some("s1"));
    assert_eq!(request.nonce.as_deref(), Some("n"));
    assert_eq!(request.max_age, Some(60));
    assert!(request.login_hint.is_some());
    assert!(request.code_challenge.is_some());
}

#[test]
fn client_and_redirect_uri_problems_are_pages() {
    assert!(client_id(&params("x=1")).is_err());
    assert!(client_id(&params("client_id=a&client_id=b")).is_err());
    assert_eq!(client_id(&params("client_id=a")), Ok("a"));
    assert!(matches!(
        check(&base().replace("app.example", "evil.example")),
        Err(Refusal::Page(_))
    ));
    let repeated = format!("{}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", base());
    assert!(matches!(check(&repeated), Err(Refusal::Page(_))));
    let two = client(false, &["https://a.example/cb", "https://b.example/cb"]);
    let without = "client_id=app&response_type=code&scope=openid";
    assert!(matches!(
        AuthorizationRequest::validate(&params(without), &two),
        Err(Refusal::Page(_))
    ));
    let one = client(false, &["https://a.example/cb"]);
    let request = AuthorizationRequest::validate(&params(without), &one).unwrap();
    assert_eq!(request.redirect_uri, "https://a.example/cb");
}

#[test]
fn other_problems_go_back_to_the_client_with_the_state() {
    use ErrorCode::*;
    let b = base();
    assert_eq!(
        redirected_error(&b.replace("code", "token")),
        UnsupportedResponseType
    );
    assert_eq!(
        redirected_error(&b.replace("&response_type=code", "")),
        InvalidRequest
    );
    assert_eq!(redirected_error(&b.replace("openid+", "")), InvalidScope);
    assert_eq!(
        redirected_error(&format!("{b}&request=x")),
        RequestNotSupported
    );
    assert_eq!(
        redirected_error(&format!("{b}&state=again")),
        InvalidRequest
    );
    let long = "n".repeat(PARAM_MAX_BYTES + 1);
    assert_eq!(
        redirected_error(&format!("{b}&nonce={long}")),
        InvalidRequest
    );
    assert_eq!(
        redirected_error(&format!("{b}&prompt=none+login")),
        InvalidRequest
    );
    assert_eq!(
        redirected_error(&format!("{b}&prompt=bogus")),
        InvalidRequest
    );
    assert_eq!(redirected_error(&format!("{b}&max_age=-1")), InvalidRequest);
    assert_eq!(
        redirected_error(&format!("{b}&response_mode=form_post")),
        InvalidRequest
    );
    match check(&b.replace("&response_type=code", "")) {
        Err(Refusal::Redirect(r)) => assert_eq!(r.state.as_deref(), Some("s1")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pkce_is_s256_only_and_required_of_public_clients() {
    let b = base();
    let plain = format!("{b}&code_challenge={CHALLENGE}&code_challenge_method=plain");
    assert_eq!(redirected_error(&plain), ErrorCode::InvalidRequest);
    let no_method = format!("{b}&code_challenge={CHALLENGE}");
    assert_eq!(redirected_error(&no_method), ErrorCode::InvalidRequest);
    let public = client(true, &["https://app.example/cb"]);
    match AuthorizationRequest::validate(&params(&b), &public) {
        Err(Refusal::Redirect(r)) => assert_eq!(r.error, ErrorCode::InvalidRequest),
        other => panic!("{other:?}"),
    }
    let with = format!("{b}&code_challenge={CHALLENGE}&code_challenge_method=S256");
    assert!(AuthorizationRequest::validate(&params(&with), &public).is_ok());
}

#[test]
fn sign_in_is_needed_when_absent_stale_forced_or_another_wallet() {
    let address: Address = ADDRESS.parse().unwrap();
    let other: Address = "0x0000000000000000000000000000000000000001"
        .parse()
        .unwrap();
    let now = 1_000_000_000_000;
    let session = |at: i64, signed_at: Option<i64>, addresses| SignedIn {
        auth_time: at,
        signed_at,
        addresses,
    };
    let mine = std::slice::from_ref(&address);
    let signed = |at: i64| Some(session(at, Some(at), mine));
    let request = check(&base()).unwrap();
    assert_eq!(request.sign_in_needed(None, now), SignInNeeded::Yes);
    assert_eq!(
        request.sign_in_needed(signed(0).as_ref(), now),
        SignInNeeded::No
    );

    let max_age = check(&format!("{}&max_age=60", base())).unwrap();
    assert_eq!(
        max_age.sign_in_needed(signed(now - 60_000).as_ref(), now),
        SignInNeeded::No
    );
    assert_eq!(
        max_age.sign_in_needed(signed(now - 61_000).as_ref(), now),
        SignInNeeded::Fresh
    );

    let hinted = check(&format!("{}&login_hint={ADDRESS}", base())).unwrap();
    assert_eq!(
        hinted.sign_in_needed(signed(now).as_ref(), now),
        SignInNeeded::No
    );
    let others = session(now, Some(now), std::slice::from_ref(&other));
    assert_eq!(hinted.sign_in_needed(Some(&others), now), SignInNeeded::Yes);

    let login = check(&format!("{}&prompt=login", base())).unwrap();
    assert_eq!(
        login.sign_in_needed(signed(now).as_ref(), now),
        SignInNeeded::Fresh
    );
    // The continuation: prompt=login became login_after.
    let pairs = login.to_params(Some(now / 1000));
    assert!(!pairs.iter().any(|(n, _)| *n == "prompt"));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let continued = check(&query).unwrap();
    assert_eq!(
        continued.sign_in_needed(signed(now - 1000).as_ref(), now),
        SignInNeeded::Fresh
    );
    assert_eq!(
        continued.sign_in_needed(signed(now).as_ref(), now),
        SignInNeeded::No
    );
    // A session opened since by an emailed link signed nothing.
    let emailed = session(now, None, mine);
    assert_eq!(
        continued.sign_in_needed(Some(&emailed), now),
        SignInNeeded::Fresh
    );
    assert_eq!(
        request.sign_in_needed(Some(&emailed), now),
        SignInNeeded::No
    );
}

#[test]
fn params_round_trip() {
    let query = format!(
        "{}&nonce=n%20%26&code_challenge={CHALLENGE}&code_challenge_method=S256\
         &prompt=consent&max_age=5&login_hint={ADDRESS}",
        base()
    );
    let request = check(&query).unwrap();
    let again = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&request.to_params(None))
        .finish();
    let round = check(&again).unwrap();
    assert_eq!(round.to_params(None), request.to_params(None));
    assert_eq!(round.nonce.as_deref(), Some("n &"));
    assert!(round.prompt.consent);
}
