//! An authorization request (OpenID Connect Core 1.0 section 3.1.2.1, RFC 6749 section 4.1.1,
//! RFC 7636): the parameters as received, checked against the client they name into a typed
//! request. What is wrong with `client_id` or `redirect_uri` is shown to the person (a page),
//! never sent to an address nobody vouched for; every other refusal goes back to the client's
//! redirect URI. Pure: the client is looked up by the caller.

use super::{
    client::Client,
    pkce::CodeChallenge,
    scope::{Scope, Scopes},
};
use crate::{domain::address::Address, error::ErrorCode};

/// The longest value of any parameter: an anonymous request must stay small.
pub const PARAM_MAX_BYTES: usize = 2048;

/// The parameters of a request (query string or form body) as received: in order, with
/// repeated names kept so that they can be refused (RFC 6749 section 3.1).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

/// Why a single parameter cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamError {
    Repeated,
    TooLong,
}

impl ParamError {
    fn description(self) -> &'static str {
        match self {
            Self::Repeated => "A parameter is repeated (RFC 6749 section 3.1).",
            Self::TooLong => "A parameter is longer than 2048 bytes.",
        }
    }
}

impl Params {
    /// `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn from_urlencoded(text: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(text)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The value of `name`, if it is given once and is not too long.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).ok().flatten()
    }

    /// The parameters as `application/x-www-form-urlencoded` text, as received.
    pub fn to_urlencoded(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.0)
            .finish()
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 section 3.1).
    fn get(&self, name: &str) -> Result<Option<&str>, ParamError> {
        let mut values = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(ParamError::Repeated);
        }
        match first {
            Some(value) if value.len() > PARAM_MAX_BYTES => Err(ParamError::TooLong),
            Some(value) if value.is_empty() => Ok(None),
            other => Ok(other.map(String::as_str)),
        }
    }
}

/// What `prompt` asks for (`select_account` is accepted and means nothing here: a browser
/// holds one session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request for a known client and one of its redirect URIs.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// What was asked and the client may have: always with `openid`.
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    /// Seconds.
    pub max_age: Option<i64>,
    /// The address the client expects; a hint that is not an address is ignored.
    pub login_hint: Option<Address>,
    /// Unix seconds: the sign-in must be newer (how `prompt=login` survives the trip through
    /// the login page, which it must not ask again).
    pub login_after: Option<i64>,
}

/// Why a request is refused, and to whom it is said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The client or its redirect URI cannot be trusted: shown to the person.
    Page(&'static str),
    /// Said to the client at its redirect URI.
    Redirect(ErrorRedirect),
}

/// An error for the client's redirect URI (RFC 6749 section 4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: ErrorCode,
    pub description: &'static str,
}

/// What a request needs to know of the browser's session. Times are Unix ms.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn<'a> {
    /// When the person last proved who they are (`auth_time`).
    pub auth_time: i64,
    /// When the session last proved a signature, if it ever did.
    pub signed_at: Option<i64>,
    /// The account's wallets.
    pub addresses: &'a [Address],
}

/// Whether the session may answer the request, or the person must sign in first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInNeeded {
    No,
    /// Not signed in, or as a wallet other than `login_hint`.
    Yes,
    /// The sign-in is older than `max_age` or `prompt=login` wants a new one.
    Fresh,
}

/// The `client_id` of a request: the first thing checked, before the client is looked up.
/// Its refusal is a page.
pub fn client_id(params: &Params) -> Result<&str, &'static str> {
    match params.get("client_id") {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err("The request names no application (client_id)."),
        Err(_) => Err("The request's application (client_id) is repeated or too long."),
    }
}

impl AuthorizationRequest {
    /// Checks `params` against `client` (the one `client_id` names).
    pub fn validate(params: &Params, client: &Client) -> Result<Self, Refusal> {
        let redirect_uri = redirect_uri(params, client)?;
        // A state that cannot be read is not echoed; the refusal still reaches the client.
        let state = params.get("state").ok().flatten().map(str::to_string);
        let refuse = |error: ErrorCode, description: &'static str| {
            Refusal::Redirect(ErrorRedirect {
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                error,
                description,
            })
        };
        let get = |name: &str| {
            params
                .get(name)
                .map_err(|e| refuse(ErrorCode::InvalidRequest, e.description()))
        };
        let number = |name: &str, description: &'static str| {
            get(name)?
                .map(|text| {
                    (text.parse::<i64>().ok().filter(|n| *n >= 0))
                        .ok_or_else(|| refuse(ErrorCode::InvalidRequest, description))
                })
                .transpose()
        };
        for name in [
            "client_id",
            "redirect_uri",
            "state",
            "scope",
            "response_type",
            "response_mode",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "login_hint",
            "login_after",
            "request",
            "request_uri",
        ] {
            get(name)?;
        }
        if get("request")?.is_some() || get("request_uri")?.is_some() {
            return Err(refuse(
                ErrorCode::RequestNotSupported,
                "Request objects (request, request_uri) are not supported.",
            ));
        }
        match get("response_type")? {
            None => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "response_type is missing.",
                ))
            }
            Some("code") => {}
            Some(_) => {
                return Err(refuse(
                    ErrorCode::UnsupportedResponseType,
                    "Only response_type=code is supported.",
                ))
            }
        }
        if get("response_mode")?.is_some_and(|mode| mode != "query") {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "Only response_mode=query is supported.",
            ));
        }
        let requested = Scopes::parse_known(get("scope")?.unwrap_or_default());
        if !requested.contains(Scope::OpenId) {
            return Err(refuse(
                ErrorCode::InvalidScope,
                "The scope must include openid.",
            ));
        }
        // What the client may not have is left out (RFC 6749 section 3.3); openid stays.
        let scopes = requested
            .intersection(&client.scopes)
            .union(&[Scope::OpenId].into_iter().collect());
        let code_challenge = match (get("code_challenge")?, get("code_challenge_method")?) {
            (Some(challenge), method) => {
                Some(CodeChallenge::parse(challenge, method).map_err(|_| {
                    refuse(
                        ErrorCode::InvalidRequest,
                        "code_challenge must be 43 base64url characters with \
                         code_challenge_method=S256 (plain is not accepted).",
                    )
                })?)
            }
            (None, Some(_)) => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method without code_challenge.",
                ))
            }
            (None, None) if client.is_public() => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "A public client must use PKCE (code_challenge with S256).",
                ))
            }
            (None, None) => None,
        };
        let prompt = parse_prompt(get("prompt")?).ok_or_else(|| {
            refuse(
                ErrorCode::InvalidRequest,
                "prompt must be none, or any of login, consent and select_account.",
            )
        })?;
        let max_age = number("max_age", "max_age must be a number of seconds.")?;
        let login_after = number("login_after", "login_after must be a Unix time in seconds.")?;
        let nonce = get("nonce")?.map(str::to_string);
        let login_hint = get("login_hint")?.and_then(|hint| Address::parse(hint).ok());
        Ok(Self {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            scopes,
            state: state.clone(),
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint,
            login_after,
        })
    }

    /// Whether `session` may answer now, or the person must sign in (again).
    pub fn sign_in_needed(&self, session: Option<&SignedIn<'_>>, now_ms: i64) -> SignInNeeded {
        let Some(session) = session else {
            return SignInNeeded::Yes;
        };
        if self
            .login_hint
            .is_some_and(|hint| !session.addresses.contains(&hint))
        {
            return SignInNeeded::Yes;
        }
        let fresh_enough = match self.login_after {
            // The continuation of a request that sent the person to sign again: only a
            // signature counts (a session opened by an emailed link is no new sign-in).
            Some(after) => session
                .signed_at
                .is_some_and(|signed_at| signed_at >= after.saturating_mul(1000)),
            None => {
                !self.prompt.login
                    && self.max_age.is_none_or(|max_age| {
                        now_ms.saturating_sub(session.auth_time) <= max_age.saturating_mul(1000)
                    })
            }
        };
        if fresh_enough {
            SignInNeeded::No
        } else {
            SignInNeeded::Fresh
        }
    }

    /// The request as parameters, to send it again (after the login page, from the consent
    /// page's form). `login_after` (Unix seconds) replaces `prompt=login` when the person is
    /// sent to sign in again.
    pub fn to_params(&self, login_after: Option<i64>) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("response_type", "code".to_string()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("scope", self.scopes.to_string()),
        ];
        let optional = [
            ("state", self.state.clone()),
            ("nonce", self.nonce.clone()),
            (
                "code_challenge",
                self.code_challenge.as_ref().map(|c| c.as_str().to_string()),
            ),
            (
                "code_challenge_method",
                self.code_challenge.as_ref().map(|_| "S256".to_string()),
            ),
            ("prompt", self.prompt.consent.then(|| "consent".to_string())),
            ("max_age", self.max_age.map(|age| age.to_string())),
            ("login_hint", self.login_hint.map(|a| a.to_string())),
            (
                "login_after",
                login_after.or(self.login_after).map(|t| t.to_string()),
            ),
        ];
        pairs.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.map(|v| (name, v))),
        );
        pairs
    }
}

/// The registered redirect URI the request names, or the client's only one when it names none.
fn redirect_uri(params: &Params, client: &Client) -> Result<String, Refusal> {
    match params.get("redirect_uri") {
        Ok(Some(uri)) if client.has_redirect_uri(uri) => Ok(uri.to_string()),
        Ok(Some(_)) => Err(Refusal::Page(
            "The application asked to send you to an address it has not registered \
             (redirect_uri).",
        )),
        Ok(None) => match client.redirect_uris.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(Refusal::Page(
                "The request does not say where to send you back (redirect_uri).",
            )),
        },
        Err(_) => Err(Refusal::Page(
            "The request's redirect_uri is repeated or too long.",
        )),
    }
}

/// `prompt`: `none` alone, or any of `login`, `consent`, `select_account`.
fn parse_prompt(text: Option<&str>) -> Option<Prompt> {
    let mut prompt = Prompt::default();
    let mut others = false;
    for value in text
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => others = true,
            _ => return None,
        }
    }
    if prompt.none && (prompt.login || prompt.consent || others) {
        return None;
    }
    Some(prompt)
}

#[cfg(test)]
mod tests;
