//! What a person's consent produces: authorization codes, grants (the refresh-token family one
//! code exchange starts; access tokens name it) and remembered consents.

use super::{pkce::CodeChallenge, scope::Scopes};
use crate::domain::id::{SessionId, UserId};

/// An authorization code's meaning (the code itself is only stored as a MAC). Times: unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub client_id: String,
    pub user_id: UserId,
    /// The session it was issued in (the ID token's `sid`; logout ends its grants' tokens).
    pub session_id: Option<SessionId>,
    /// Must equal the token request's `redirect_uri`.
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub nonce: Option<String>,
    /// Present when the request used PKCE: the exchange must then show the verifier.
    pub code_challenge: Option<CodeChallenge>,
    /// When the person last proved their key (the ID token's `auth_time`), unix ms.
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What one code exchange created: revoking it ends its refresh tokens and access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: UserId,
    pub session_id: Option<SessionId>,
    pub scopes: Scopes,
    pub auth_time: i64,
    pub created_at: i64,
    /// Past it, nothing of the grant works (refresh tokens included).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl Grant {
    /// Neither revoked nor expired at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now_ms
    }
}

/// What a person allowed an app, remembered so they are asked once per app and scope set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub client_id: String,
    pub scopes: Scopes,
    pub granted_at: i64,
}

/// An account's live grants to one app, together: what the account page lists beside the
/// remembered consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveGrants {
    pub client_id: String,
    /// Every scope of them.
    pub scopes: Scopes,
    /// When the newest was created.
    pub last_created_at: i64,
    /// Whether one has a refresh token that still works (the app can come back by itself).
    pub has_refresh_token: bool,
}

/// The outcome of presenting a single-use secret (a code, a refresh token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed<T> {
    /// First use: here is what it stood for.
    Fresh(T),
    /// Used before: someone replays it. The grant it created (if any) has been revoked in the
    /// same transaction, so the caller must let that transaction commit (return `Ok`).
    Replayed { grant_id: Option<String> },
    /// Never issued, or expired (or its grant has ended).
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_lives_until_revoked_or_expired() {
        let mut grant = Grant {
            id: "g".into(),
            client_id: "c".into(),
            user_id: UserId::new("u".into()),
            session_id: None,
            scopes: Scopes::parse_known("openid"),
            auth_time: 0,
            created_at: 0,
            expires_at: 1000,
            revoked_at: None,
        };
        assert!(grant.is_live(999));
        assert!(!grant.is_live(1000));
        grant.revoked_at = Some(10);
        assert!(!grant.is_live(11));
    }
}
