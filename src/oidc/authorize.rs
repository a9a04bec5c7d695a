//! The authorization endpoint's decision (OpenID Connect Core 1.0 section 3.1.2) and the
//! consent page's answer: an error page, an error for the client, the login page, the consent
//! page, or a code. Asked in this order: may we answer the client at all (client, redirect
//! URI), is the request valid, is the right person signed in recently enough, have they
//! consented. A code is issued only at the end, on the writer, stored as its MAC.

use url::Url;

use super::Oidc;
use crate::{
    db::oidc as store,
    domain::{
        address::Address,
        event::EventKind,
        oidc::{
            client::Client,
            grant::AuthorizationCode,
            request::{
                self, AuthorizationRequest, ErrorRedirect, Params, Refusal, SignInNeeded, SignedIn,
            },
            scope::Scopes,
        },
        token::{random_secret, OidcSecret},
    },
    error::{AppError, AppResult, ErrorCode},
    service::{record_event, Authenticated, ClientInfo},
};

/// Where the authorization request goes next.
#[derive(Debug)]
pub enum Authorization {
    /// Said to the person (400): the client or its redirect URI cannot be trusted.
    ErrorPage(&'static str),
    /// To the client's redirect URI (a code or an error) or to the login page.
    Redirect(Url),
    /// The person must say whether the client may have what it asks.
    Consent(ConsentPrompt),
}

/// What the consent page shows and what its form sends back.
#[derive(Debug)]
pub struct ConsentPrompt {
    pub app_name: String,
    pub account_name: String,
    pub scopes: Scopes,
    /// The request again, for the form's hidden fields.
    pub params: Vec<(&'static str, String)>,
    pub csrf: String,
    /// The origin the form's answer redirects to (the client's).
    pub form_target: String,
}

/// What the person said on the consent page, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing yet: the authorization request itself.
    Ask,
    Allow,
    Deny,
}

/// Where the built-in login page is, relative to the issuer (an origin).
const LOGIN_PATH: &str = "/login";
/// The authorization endpoint, where the login page sends the person back.
const AUTHORIZE_PATH: &str = "/oidc/authorize";

impl Oidc {
    /// Decides an authorization request (`decision` is `Ask`) or the consent page's answer.
    /// `session` is the browser's session, if it has a live one.
    pub async fn authorize(
        &self,
        params: &Params,
        session: Option<&Authenticated>,
        decision: Decision,
        client_info: ClientInfo,
    ) -> AppResult<Authorization> {
        let client = match request::client_id(params) {
            Ok(id) => self.client(id).await?,
            Err(why) => return Ok(Authorization::ErrorPage(why)),
        };
        let Some(client) = client else {
            return Ok(Authorization::ErrorPage(
                "The application that sent you here is not registered with this server \
                 (unknown client_id).",
            ));
        };
        let request = match AuthorizationRequest::validate(params, &client) {
            Ok(request) => request,
            Err(Refusal::Page(why)) => return Ok(Authorization::ErrorPage(why)),
            Err(Refusal::Redirect(error)) => return self.error_redirect(&error),
        };
        let refuse = |error: ErrorCode, description: &'static str| {
            self.error_redirect(&ErrorRedirect {
                redirect_uri: request.redirect_uri.clone(),
                state: request.state.clone(),
                error,
                description,
            })
        };
        let now = self.clock().now_ms();
        let addresses: Vec<Address> = session
            .map(|s| s.account.wallets.iter().map(|w| w.address).collect())
            .unwrap_or_default();
        let signed_in = session.map(|s| SignedIn {
            auth_time: auth_time(s),
            signed_at: s.session.authenticated_at,
            addresses: &addresses,
        });
        let needed = request.sign_in_needed(signed_in.as_ref(), now);
        let session = match (session, needed) {
            (Some(session), SignInNeeded::No) => session,
            _ if request.prompt.none => {
                return refuse(ErrorCode::LoginRequired, "The person must sign in.")
            }
            (_, needed) => {
                let login_after = (needed == SignInNeeded::Fresh).then_some(now / 1000);
                return self
                    .to_login(&request, login_after)
                    .map(Authorization::Redirect);
            }
        };
        match decision {
            Decision::Deny => {
                return refuse(ErrorCode::AccessDenied, "The person did not allow it.")
            }
            Decision::Allow => {
                return self
                    .issue_code(&request, session, Some(client_info))
                    .await
                    .map(Authorization::Redirect)
            }
            Decision::Ask => {}
        }
        if !self.consented(&client, &request, session).await? {
            if request.prompt.none {
                return refuse(
                    ErrorCode::ConsentRequired,
                    "The person has not allowed this application yet.",
                );
            }
            return Ok(Authorization::Consent(ConsentPrompt {
                app_name: client.name.clone(),
                account_name: session.account.display_name(),
                scopes: request.scopes.clone(),
                params: request.to_params(None),
                csrf: self.service().csrf_token(&session.session.id),
                form_target: Url::parse(&request.redirect_uri)
                    .map(|url| url.origin().ascii_serialization())
                    .unwrap_or_default(),
            }));
        }
        self.issue_code(&request, session, None)
            .await
            .map(Authorization::Redirect)
    }

    /// The consent page's answer: its form must carry the session's CSRF token.
    pub async fn answer_consent(
        &self,
        params: &Params,
        session: Option<&Authenticated>,
        csrf: Option<&str>,
        allow: bool,
        client_info: ClientInfo,
    ) -> AppResult<Authorization> {
        if let Some(session) = session {
            self.service().check_csrf(&session.session.id, csrf)?;
        }
        let decision = if allow {
            Decision::Allow
        } else {
            Decision::Deny
        };
        self.authorize(params, session, decision, client_info).await
    }

    /// Whether the client may skip the consent page: trusted, or the person allowed at least
    /// these scopes before (and the request does not insist on asking).
    async fn consented(
        &self,
        client: &Client,
        request: &AuthorizationRequest,
        session: &Authenticated,
    ) -> AppResult<bool> {
        if client.trusted && !request.prompt.consent {
            return Ok(true);
        }
        if request.prompt.consent {
            return Ok(false);
        }
        let user_id = session.account.user.id.clone();
        let consent = self
            .db()
            .read(|conn| store::consent(conn, &user_id, &client.id))?;
        Ok(consent.is_some_and(|c| c.scopes.covers(&request.scopes)))
    }

    /// Issues a code on the writer and sends it to the client; with `consent_from` (the consent
    /// page's Allow), remembers the consent and records it in the same transaction.
    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        session: &Authenticated,
        consent_from: Option<ClientInfo>,
    ) -> AppResult<Url> {
        let code = random_secret();
        let mac = self
            .keys()
            .oidc_mac(OidcSecret::AuthorizationCode, &request.client_id, &code);
        let now = self.clock().now_ms();
        let ttl_ms = i64::try_from(self.config().code_ttl.as_millis()).unwrap_or(i64::MAX);
        let stored = AuthorizationCode {
            client_id: request.client_id.clone(),
            user_id: session.account.user.id.clone(),
            session_id: Some(session.session.id.clone()),
            redirect_uri: request.redirect_uri.clone(),
            scopes: request.scopes.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: auth_time(session),
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
        };
        let address = session.session.address;
        self.db()
            .write(move |conn| {
                if let Some(client_info) = &consent_from {
                    store::save_consent(
                        conn,
                        &stored.user_id,
                        &stored.client_id,
                        &stored.scopes,
                        now,
                    )?;
                    record_event(
                        conn,
                        now,
                        EventKind::OidcConsentGranted,
                        Some(&stored.user_id),
                        Some(&address),
                        client_info,
                        Some(&format!("{} ({})", stored.client_id, stored.scopes)),
                    )?;
                }
                store::insert_code(conn, &mac, &stored)
            })
            .await?;
        self.client_redirect(
            &request.redirect_uri,
            &[
                ("code", Some(code.as_str())),
                ("state", request.state.as_deref()),
            ],
        )
    }

    /// An error for the client at its redirect URI (RFC 6749 section 4.1.2.1).
    fn error_redirect(&self, error: &ErrorRedirect) -> AppResult<Authorization> {
        self.client_redirect(
            &error.redirect_uri,
            &[
                ("error", Some(error.error.as_str())),
                ("error_description", Some(error.description)),
                ("state", error.state.as_deref()),
            ],
        )
        .map(Authorization::Redirect)
    }

    /// `redirect_uri` (registered, so absolute) with `pairs` and `iss` (RFC 9207) added to its
    /// query.
    fn client_redirect(
        &self,
        redirect_uri: &str,
        pairs: &[(&str, Option<&str>)],
    ) -> AppResult<Url> {
        let mut url = Url::parse(redirect_uri).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("registered redirect URI unparsable: {e}"))
        })?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                if let Some(value) = value {
                    query.append_pair(name, value);
                }
            }
            query.append_pair("iss", self.issuer());
        }
        Ok(url)
    }

    /// The authorization endpoint (GET) with `params` as they were received.
    pub fn authorize_url(&self, params: &Params) -> AppResult<Url> {
        let mut url = self.own_url(AUTHORIZE_PATH)?;
        url.set_query(Some(&params.to_urlencoded()));
        Ok(url)
    }

    /// `path` on this server.
    fn own_url(&self, path: &str) -> AppResult<Url> {
        Url::parse(self.issuer())
            .and_then(|issuer| issuer.join(path))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("issuer unparsable: {e}")))
    }

    /// The login page, which sends the person back to this request (with `login_after` when a
    /// new sign-in is needed).
    fn to_login(&self, request: &AuthorizationRequest, login_after: Option<i64>) -> AppResult<Url> {
        let next = format!(
            "{AUTHORIZE_PATH}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(request.to_params(login_after))
                .finish()
        );
        let mut url = self.own_url(LOGIN_PATH)?;
        url.query_pairs_mut().append_pair("next", &next);
        Ok(url)
    }
}

/// When the session's person last proved their key: its last signature, else its start (a
/// session opened by an emailed link), Unix ms.
pub fn auth_time(session: &Authenticated) -> i64 {
    session
        .session
        .authenticated_at
        .unwrap_or(session.session.created_at)
}
