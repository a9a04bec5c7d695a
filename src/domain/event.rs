//! Security events: what happened to an account, as stored in `security_events` and shown in
//! its event log. The stored strings are part of the database format and of the API: never
//! rename one; add a variant (and to the API's list in `EventBody`) for a new kind. Pure.

use std::fmt;

use super::{address::Address, id::UserId};

/// Kinds of security events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    SignIn,
    SignInFailed,
    SignOut,
    WalletLinked,
    WalletLinkFailed,
    WalletUnlinked,
    PrimaryWalletChanged,
    SessionEnded,
    SessionsEnded,
    EmailChanged,
    EmailVerified,
    EmailLinkSent,
    Reauthenticated,
    ReauthenticationFailed,
    OidcConsentGranted,
    /// The account revoked an OpenID Connect app's access (detail: its client id).
    OidcAppRevoked,
    /// An authorization code presented again: the grant of its first exchange was revoked.
    OidcCodeReplay,
    /// A rotated-away refresh token presented again: its whole family was revoked.
    OidcRefreshReuse,
    /// A re-check found that the wallet contract that signed a session in no longer accepts
    /// its signature (its owners changed...): the session was ended (detail: the chain).
    ContractSessionEnded,
    /// A wallet of the account approved a cross-device sign-in (a pairing) on another device
    /// (detail: that device's description and address).
    PairingApproved,
}

impl EventKind {
    pub const ALL: [Self; 20] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SignOut,
        Self::WalletLinked,
        Self::WalletLinkFailed,
        Self::WalletUnlinked,
        Self::PrimaryWalletChanged,
        Self::SessionEnded,
        Self::SessionsEnded,
        Self::EmailChanged,
        Self::EmailVerified,
        Self::EmailLinkSent,
        Self::Reauthenticated,
        Self::ReauthenticationFailed,
        Self::OidcConsentGranted,
        Self::OidcAppRevoked,
        Self::OidcCodeReplay,
        Self::OidcRefreshReuse,
        Self::ContractSessionEnded,
        Self::PairingApproved,
    ];

    /// The stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignOut => "sign_out",
            Self::WalletLinked => "wallet_linked",
            Self::WalletLinkFailed => "wallet_link_failed",
            Self::WalletUnlinked => "wallet_unlinked",
            Self::PrimaryWalletChanged => "primary_wallet_changed",
            Self::SessionEnded => "session_ended",
            Self::SessionsEnded => "sessions_ended",
            Self::EmailChanged => "email_changed",
            Self::EmailVerified => "email_verified",
            Self::EmailLinkSent => "email_link_sent",
            Self::Reauthenticated => "reauthenticated",
            Self::ReauthenticationFailed => "reauthentication_failed",
            Self::OidcConsentGranted => "oidc_consent_granted",
            Self::OidcAppRevoked => "oidc_app_revoked",
            Self::OidcCodeReplay => "oidc_code_replay",
            Self::OidcRefreshReuse => "oidc_refresh_reuse",
            Self::ContractSessionEnded => "contract_session_ended",
            Self::PairingApproved => "pairing_approved",
        }
    }

    /// The kind a stored name stands for; `None` for a name this version does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub user_id: Option<UserId>,
    pub kind: EventKind,
    pub address: Option<Address>,
    pub ip: Option<String>,
    /// The reason of a refusal (an error code), or other detail.
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.as_str()), Some(kind));
        }
        let mut names: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
        assert_eq!(EventKind::from_name("sign_on"), None);
    }
}
