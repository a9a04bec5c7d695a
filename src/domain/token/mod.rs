//! Session and email-link tokens, CSRF tokens and nonces. A token is its creation time and 256
//! random bits; the database keeps only its time and a keyed MAC of it, so a copy of the
//! database hands out no usable cookie. The CSRF token is a MAC of the session id, so it needs
//! no storage and is checked in constant time. Nonces are in `nonce.rs`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

mod nonce;

pub use nonce::{nonce_expiry, NonceFor};

type HmacSha256 = Hmac<Sha256>;

/// Random bytes of a token, and their length in base64url without padding.
const TOKEN_BYTES: usize = 32;
const TOKEN_RANDOM_LEN: usize = 43;
/// Length of a token: its time prefix, then its random part.
pub const TOKEN_LEN: usize = TIME_DIGITS + TOKEN_RANDOM_LEN;

/// Keys derived from the server secret, one per purpose.
#[derive(Clone)]
pub struct Keys {
    session: [u8; 32],
    csrf: [u8; 32],
    email: [u8; 32],
    nonce: [u8; 32],
    /// OpenID Connect: codes, refresh tokens, client secrets, pairwise subjects.
    oidc: [u8; 32],
    /// Desktop secrets of cross-device sign-ins (pairings).
    pairing: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac
}

impl Keys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let derive =
            |label: &[u8]| -> [u8; 32] { mac(secret, &[label]).finalize().into_bytes().into() };
        Self {
            session: derive(b"siwe-server session token v1"),
            csrf: derive(b"siwe-server csrf token v1"),
            email: derive(b"siwe-server email token v1"),
            // v2: the time in a nonce is its expiry; nonces of v1 (issue time) are unknown.
            nonce: derive(b"siwe-server nonce v2"),
            oidc: derive(b"siwe-server oidc v1"),
            pairing: derive(b"siwe-server pairing v1"),
        }
    }

    /// A fresh token (for a session cookie or bearer header, or an email link) created at
    /// `now_ms`: 8 base-62 digits of the time, then 256 random bits in base64url.
    pub fn new_token(now_ms: i64) -> String {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let mut token = String::with_capacity(TOKEN_LEN);
        token.extend(time_digits(now_ms).iter().copied().map(char::from));
        URL_SAFE_NO_PAD.encode_string(bytes, &mut token);
        token
    }

    /// What the database stores and looks sessions up by (see [`token_key`]).
    pub fn session_token_key(&self, token: &str) -> Vec<u8> {
        token_key(&self.session, token)
    }

    /// What the database stores and looks email-link tokens up by (see [`token_key`]).
    pub fn email_token_key(&self, token: &str) -> Vec<u8> {
        token_key(&self.email, token)
    }

    pub fn csrf_token(&self, session_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(
            mac(&self.csrf, &[session_id.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// Constant-time check of a presented CSRF token.
    pub fn csrf_token_matches(&self, session_id: &str, presented: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(presented) {
            Ok(bytes) => mac(&self.csrf, &[session_id.as_bytes()])
                .verify_slice(&bytes)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// What the form of an emailed link's page carries: a MAC of the link's token and of a
    /// random value kept in that browser's cookie, so only a POST from that page completes it.
    pub fn link_form_token(&self, browser: &str, link_token: &str) -> String {
        URL_SAFE_NO_PAD.encode(
            self.link_form_mac(browser, link_token)
                .finalize()
                .into_bytes(),
        )
    }

    /// Constant-time check of a link page's form token.
    pub fn link_form_token_matches(
        &self,
        browser: &str,
        link_token: &str,
        presented: &str,
    ) -> bool {
        match URL_SAFE_NO_PAD.decode(presented) {
            Ok(bytes) => self
                .link_form_mac(browser, link_token)
                .verify_slice(&bytes)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// What the database stores for an OpenID Connect secret of `kind` (an authorization code,
    /// a refresh token, a client secret of `owner`): a MAC, so a copy of the database redeems
    /// nothing. Kinds and owners are separated so one value never stands for another.
    pub fn oidc_mac(&self, kind: OidcSecret, owner: &str, value: &str) -> [u8; 32] {
        let parts: [&[u8]; 5] = [
            kind.label(),
            b"\0",
            owner.as_bytes(),
            b"\0",
            value.as_bytes(),
        ];
        mac(&self.oidc, &parts).finalize().into_bytes().into()
    }

    /// What the database stores for the desktop secret of pairing `pairing_id`: a MAC, so a
    /// copy of the database claims no pairing. Compare it in constant time
    /// ([`pairing_secret_matches`]).
    pub fn pairing_secret_mac(&self, pairing_id: &str, secret: &str) -> [u8; 32] {
        let parts: [&[u8]; 3] = [pairing_id.as_bytes(), b"\0", secret.as_bytes()];
        mac(&self.pairing, &parts).finalize().into_bytes().into()
    }

    fn link_form_mac(&self, browser: &str, link_token: &str) -> HmacSha256 {
        let parts: [&[u8]; 4] = [
            b"link form\0",
            browser.as_bytes(),
            b"\0",
            link_token.as_bytes(),
        ];
        mac(&self.csrf, &parts)
    }
}

/// What an OpenID Connect MAC stands for (see [`Keys::oidc_mac`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcSecret {
    AuthorizationCode,
    RefreshToken,
    ClientSecret,
    /// A pairwise subject: `owner` is the client, the value the account id.
    PairwiseSubject,
}

impl OidcSecret {
    fn label(self) -> &'static [u8] {
        match self {
            Self::AuthorizationCode => b"authorization code",
            Self::RefreshToken => b"refresh token",
            Self::ClientSecret => b"client secret",
            Self::PairwiseSubject => b"pairwise subject",
        }
    }
}

/// Whether a presented pairing secret's MAC is the stored one, in constant time.
pub fn pairing_secret_matches(stored: &[u8], presented: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    stored.ct_eq(presented).into()
}

/// 256 random bits in base64url: an authorization code, refresh token, client secret or a
/// pairing's desktop secret.
pub fn random_secret() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token's key in the database: its time prefix, then a MAC of the whole token under `key`.
/// The prefix makes keys sort by creation time, so a new one is appended to its index instead
/// of landing on a random page of it (one page write per insert on a large table). Tokens
/// from before the prefix have none, and are found by their MAC alone.
fn token_key(key: &[u8], token: &str) -> Vec<u8> {
    let prefix = if token.len() == TOKEN_LEN {
        &token.as_bytes()[..TIME_DIGITS]
    } else {
        &[]
    };
    let mut stored = Vec::with_capacity(TIME_DIGITS + 32);
    stored.extend_from_slice(prefix);
    stored.extend_from_slice(&mac(key, &[token.as_bytes()]).finalize().into_bytes());
    stored
}

/// Length of a token issued before tokens began with their time (still accepted).
const UNTIMED_TOKEN_LEN: usize = TOKEN_RANDOM_LEN;

/// Whether a string could be a token at all (saves a database look-up for junk).
pub fn looks_like_token(token: &str) -> bool {
    let random = match token.len() {
        TOKEN_LEN if time_of_digits(&token.as_bytes()[..TIME_DIGITS]).is_some() => {
            &token[TIME_DIGITS..]
        }
        UNTIMED_TOKEN_LEN => token,
        _ => return false,
    };
    random
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Digits in byte order, so that base-62 numbers of one length sort like the numbers.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Base-62 digits of a time prefix (nonces, tokens): milliseconds for the next 6,000 years.
const TIME_DIGITS: usize = 8;

/// `millis` (clamped at 0) as base-62 digits that sort like the times.
fn time_digits(millis: i64) -> [u8; TIME_DIGITS] {
    let mut millis = millis.max(0);
    let mut digits = [b'0'; TIME_DIGITS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(millis % 62) as usize];
        millis /= 62;
    }
    digits
}

/// The time written by [`time_digits`]; `None` if `digits` are not base-62.
fn time_of_digits(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |millis, digit| {
        let value = BASE62.iter().position(|d| d == digit)?;
        Some(millis * 62 + value as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = Keys::new_token(1_795_000_000_123);
        let b = Keys::new_token(1_795_000_000_123);
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(looks_like_token(&a));
        let untimed = URL_SAFE_NO_PAD.encode([7u8; TOKEN_BYTES]);
        assert!(looks_like_token(&untimed));
        for junk in ["", &a[1..], &format!("{a}A"), &format!("{}!", &a[..50])] {
            assert!(!looks_like_token(junk), "{junk}");
        }
        // A bad time digit.
        assert!(!looks_like_token(&format!("-{}", &a[1..])));
    }

    #[test]
    fn token_keys_sort_by_creation_time_and_bind_the_secret() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let other = Keys::from_secret(b"another secret that is long enough");
        let first = Keys::new_token(1_795_000_000_123);
        let second = Keys::new_token(1_795_000_000_124);
        let (first_key, second_key) = (
            keys.session_token_key(&first),
            keys.session_token_key(&second),
        );
        assert_eq!(first_key.len(), TIME_DIGITS + 32);
        assert!(first_key < second_key);
        assert_eq!(&first_key[..TIME_DIGITS], &first.as_bytes()[..TIME_DIGITS]);
        assert_ne!(first_key, other.session_token_key(&first));
        assert_ne!(first_key, keys.email_token_key(&first));
        // Untimed tokens (issued before the prefix) are keyed by their MAC alone.
        let untimed = URL_SAFE_NO_PAD.encode([7u8; TOKEN_BYTES]);
        assert_eq!(keys.session_token_key(&untimed).len(), 32);
    }

    #[test]
    fn csrf_tokens_bind_to_session_and_secret() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let other = Keys::from_secret(b"another secret that is long enough");
        let token = keys.csrf_token("s1");
        assert!(keys.csrf_token_matches("s1", &token));
        assert!(!keys.csrf_token_matches("s2", &token));
        assert!(!other.csrf_token_matches("s1", &token));
        assert!(!keys.csrf_token_matches("s1", "not base64 !"));
        assert_ne!(keys.session_token_key("t"), other.session_token_key("t"));
    }
}
