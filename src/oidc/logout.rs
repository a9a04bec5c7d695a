//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the application names itself
//! (`client_id`, or the `aud` of an ID token of ours as `id_token_hint`) and may ask to be
//! sent back to one of its registered `post_logout_redirect_uris` with its `state`. Asking
//! changes nothing (a page with a form); the form's POST ends this browser's session.

use url::Url;

use super::Oidc;
use crate::{
    domain::oidc::{client::Client, request::Params},
    error::{AppError, AppResult, ErrorCode},
    service::{Authenticated, ClientInfo},
};

/// A checked logout request.
#[derive(Debug)]
pub struct Logout {
    /// The application that asked, if it said which.
    pub client: Option<Client>,
    /// Where to go afterwards: a registered URI with `state`, else nowhere.
    pub then: Option<Url>,
    /// The request again, for the confirmation form's hidden fields.
    pub params: Vec<(&'static str, String)>,
}

/// The parameters a logout request carries on to its form.
const CARRIED: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

fn refused(message: &'static str) -> AppError {
    AppError::new(ErrorCode::InvalidRequest, message)
}

impl Oidc {
    /// Checks a logout request: the client it names, and where it may go afterwards (only a
    /// URI registered for that client).
    pub async fn logout_request(&self, params: &Params) -> AppResult<Logout> {
        let named = params.value("client_id");
        let hinted = self.hinted_client(params.value("id_token_hint"));
        let client_id = match (named, hinted.as_deref()) {
            (Some(named), Some(hinted)) if named != hinted => {
                return Err(refused(
                    "client_id is not the application the id_token_hint was issued to.",
                ))
            }
            (Some(id), _) | (None, Some(id)) => Some(id),
            (None, None) => None,
        };
        let client = match client_id {
            Some(id) => Some(self.client(id).await?.ok_or_else(|| {
                refused("The application that sent you here is not registered (client_id).")
            })?),
            None => None,
        };
        let then = match (params.value("post_logout_redirect_uri"), &client) {
            (None, _) => None,
            (Some(uri), Some(client)) if client.has_post_logout_redirect_uri(uri) => {
                let mut url = Url::parse(uri).map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("registered logout URI unparsable: {e}"))
                })?;
                if let Some(state) = params.value("state") {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url)
            }
            (Some(_), _) => {
                return Err(refused(
                    "The application asked to send you to an address it has not registered \
                     (post_logout_redirect_uri).",
                ))
            }
        };
        let params = CARRIED
            .into_iter()
            .filter_map(|name| params.value(name).map(|v| (name, v.to_string())))
            .collect();
        Ok(Logout {
            client,
            then,
            params,
        })
    }

    /// The confirmation form's answer: ends the browser's session (which must send its CSRF
    /// token) and says where to go next.
    pub async fn logout(
        &self,
        params: &Params,
        session: Option<&Authenticated>,
        client_info: ClientInfo,
    ) -> AppResult<Logout> {
        let logout = self.logout_request(params).await?;
        if let Some(session) = session {
            self.service()
                .check_csrf(&session.session.id, params.value("csrf"))?;
            self.service().sign_out(session, client_info).await?;
        }
        Ok(logout)
    }

    /// The client an `id_token_hint` was issued to, if it is an ID token of ours, expired or not
    /// (RP-Initiated Logout 1.0 section 2: the hint of a logout is usually past its `exp`). A
    /// hint that is not ours is ignored: the request may still name its client.
    fn hinted_client(&self, hint: Option<&str>) -> Option<String> {
        let claims: serde_json::Value = self.jwt().verify_allowing_expired(hint?).ok()?;
        if claims.get("iss").and_then(|iss| iss.as_str()) != Some(self.issuer()) {
            return None;
        }
        match claims.get("aud")? {
            serde_json::Value::String(aud) => Some(aud.clone()),
            serde_json::Value::Array(auds) => auds.first()?.as_str().map(str::to_string),
            _ => None,
        }
    }
}
