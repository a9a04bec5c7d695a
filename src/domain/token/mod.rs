//! Session and email-link tokens, CSRF tokens and nonces. A token is its creation time and 256
//! random bits; the database keeps only its time and a keyed MAC of it, so a copy of the
//! database hands out no usable cookie. The CSRF token is a MAC of the session id, so it needs
//! no storage and is checked in constant time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rand::{distr::Alphanumeric, Rng, RngExt};
use sha2::Sha256;
use subtle::ConstantTimeEq;

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
/// Random alphanumerics after the time (71 bits): nonces are unique without any storage.
const NONCE_RANDOM_LEN: usize = 12;
/// Alphanumerics of the MAC tag (about 125 bits): what makes a nonce impossible to forge.
const NONCE_TAG_LEN: usize = 22;
/// Length of a nonce: its expiry, its random part, its tag.
const NONCE_LEN: usize = TIME_DIGITS + NONCE_RANDOM_LEN + NONCE_TAG_LEN;

/// The expiry written in a nonce of our shape. Only a nonce that [`Keys::nonce_matches`]
/// recognises says truly when it expires: the tag covers it.
pub fn nonce_expiry(nonce: &str) -> Option<i64> {
    let bytes = nonce.as_bytes();
    if bytes.len() != NONCE_LEN || !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    time_of_digits(&bytes[..TIME_DIGITS])
}

/// What a nonce was issued for; the MAC binds the purpose and its fields, so a nonce is
/// accepted for nothing else. To add a purpose, add a variant and give it a name of its own
/// and its fields in [`NonceFor::bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceFor<'a> {
    SignIn,
    /// Linking `address` to the account `user_id`.
    Link {
        user_id: &'a str,
        address: &'a str,
    },
    /// Re-authenticating the session `session_id` by a signature of `address` (sudo mode).
    Reauth {
        session_id: &'a str,
        address: &'a str,
    },
    /// Asking that `address` join the account that has verified `email` (lower case), through
    /// a link mailed there (`email.wallet_attach`).
    EmailAttach {
        email: &'a str,
        address: &'a str,
    },
}

impl<'a> NonceFor<'a> {
    /// The purpose's name (unique per variant) and the values the tag binds, in order.
    fn bound(self) -> (&'static str, Vec<&'a str>) {
        match self {
            Self::SignIn => ("sign_in", Vec::new()),
            Self::Link { user_id, address } => ("link", vec![user_id, address]),
            Self::Reauth {
                session_id,
                address,
            } => ("reauth", vec![session_id, address]),
            Self::EmailAttach { email, address } => ("email_attach", vec![email, address]),
        }
    }
}

impl Keys {
    /// A nonce that expires at `expires_at_ms`: 8 base-62 digits of that time, 12 random
    /// alphanumerics, and a 22-character tag, a MAC of the rest and of what it is for. The
    /// expiry is inside the MAC, so no change of settings can make a nonce live longer. Nothing
    /// is stored: [`Keys::nonce_matches`] recognises it, and the time prefix makes used
    /// nonces, which are stored, sort by age (appends to the end of their B-tree).
    pub fn new_nonce(&self, expires_at_ms: i64, purpose: NonceFor<'_>) -> String {
        let mut body = [b'0'; TIME_DIGITS + NONCE_RANDOM_LEN];
        body[..TIME_DIGITS].copy_from_slice(&time_digits(expires_at_ms));
        for (slot, random) in body[TIME_DIGITS..]
            .iter_mut()
            .zip(rand::rng().sample_iter(&Alphanumeric))
        {
            *slot = random;
        }
        let mut nonce = String::with_capacity(NONCE_LEN);
        nonce.extend(body.iter().copied().map(char::from));
        nonce.extend(
            self.nonce_tag(&body, purpose)
                .iter()
                .copied()
                .map(char::from),
        );
        nonce
    }

    /// Whether this server issued `nonce` for `purpose`; checked in constant time. Says
    /// nothing about expiry (see [`nonce_expiry`]) or earlier use.
    pub fn nonce_matches(&self, nonce: &str, purpose: NonceFor<'_>) -> bool {
        nonce_expiry(nonce).is_some() && {
            let (body, tag) = nonce.as_bytes().split_at(TIME_DIGITS + NONCE_RANDOM_LEN);
            self.nonce_tag(body, purpose).ct_eq(tag).into()
        }
    }

    fn nonce_tag(&self, body: &[u8], purpose: NonceFor<'_>) -> [u8; NONCE_TAG_LEN] {
        let (kind, fields) = purpose.bound();
        let mut mac = mac(&self.nonce, &[body, kind.as_bytes()]);
        // Each field with its length first, so no two lists of fields read the same.
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        let mac = mac.finalize().into_bytes();
        let mut tag = [0u8; NONCE_TAG_LEN];
        for (slot, byte) in tag.iter_mut().zip(mac.iter()) {
            *slot = BASE62[usize::from(*byte) % 62];
        }
        tag
    }
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
    fn nonces_are_recognised_only_for_what_they_were_issued_for() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let at = 1_795_000_000_123;
        let sign_in = keys.new_nonce(at, NonceFor::SignIn);
        assert_eq!(sign_in.len(), 42);
        assert!(sign_in.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(sign_in, keys.new_nonce(at, NonceFor::SignIn));
        assert_eq!(nonce_expiry(&sign_in), Some(at));
        assert!(keys.nonce_matches(&sign_in, NonceFor::SignIn));

        let link = NonceFor::Link {
            user_id: "u1",
            address: "0xAb",
        };
        let linking = keys.new_nonce(at, link);
        assert!(keys.nonce_matches(&linking, link));
        assert!(!keys.nonce_matches(&linking, NonceFor::SignIn));
        assert!(!keys.nonce_matches(&sign_in, link));
        for other in [
            NonceFor::Link {
                user_id: "u2",
                address: "0xAb",
            },
            NonceFor::Link {
                user_id: "u1",
                address: "0xAc",
            },
        ] {
            assert!(!keys.nonce_matches(&linking, other));
        }
        // Another server's, a changed expiry, a changed tag, junk.
        let other = Keys::from_secret(b"another secret that is long enough");
        assert!(!other.nonce_matches(&sign_in, NonceFor::SignIn));
        let mut later = sign_in.clone().into_bytes();
        later[7] = if later[7] == b'z' { b'y' } else { b'z' };
        let mut tag = sign_in.clone().into_bytes();
        tag[41] = if tag[41] == b'a' { b'b' } else { b'a' };
        for forged in [later, tag] {
            let forged = String::from_utf8(forged).unwrap();
            assert!(!keys.nonce_matches(&forged, NonceFor::SignIn));
        }
        for junk in ["", "abcdefgh", &"a".repeat(42), &format!("{sign_in}0")] {
            assert!(!keys.nonce_matches(junk, NonceFor::SignIn));
        }
    }

    #[test]
    fn email_attach_nonces_bind_email_and_address() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let attach = NonceFor::EmailAttach {
            email: "a@example.org",
            address: "0xAb",
        };
        let nonce = keys.new_nonce(1_795_000_000_123, attach);
        assert!(keys.nonce_matches(&nonce, attach));
        for other in [
            NonceFor::SignIn,
            NonceFor::EmailAttach {
                email: "b@example.org",
                address: "0xAb",
            },
            NonceFor::EmailAttach {
                email: "a@example.org",
                address: "0xAc",
            },
            NonceFor::Link {
                user_id: "a@example.org",
                address: "0xAb",
            },
        ] {
            assert!(!keys.nonce_matches(&nonce, other), "{other:?}");
        }
        let sign_in = keys.new_nonce(1_795_000_000_123, NonceFor::SignIn);
        assert!(!keys.nonce_matches(&sign_in, attach));
    }

    #[test]
    fn reauth_nonces_bind_session_and_address() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let reauth = NonceFor::Reauth {
            session_id: "s1",
            address: "0xAb",
        };
        let nonce = keys.new_nonce(1_795_000_000_123, reauth);
        assert!(keys.nonce_matches(&nonce, reauth));
        for other in [
            NonceFor::SignIn,
            NonceFor::Reauth {
                session_id: "s2",
                address: "0xAb",
            },
            NonceFor::Reauth {
                session_id: "s1",
                address: "0xAc",
            },
            // Same values, another purpose.
            NonceFor::Link {
                user_id: "s1",
                address: "0xAb",
            },
        ] {
            assert!(!keys.nonce_matches(&nonce, other), "{other:?}");
        }
        let sign_in = keys.new_nonce(1_795_000_000_123, NonceFor::SignIn);
        assert!(!keys.nonce_matches(&sign_in, reauth));
    }

    #[test]
    fn nonces_sort_by_expiry() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let first = keys.new_nonce(1_795_000_000_123, NonceFor::SignIn);
        let second = keys.new_nonce(1_795_000_000_124, NonceFor::SignIn);
        assert!(first < second, "{first} then {second}");
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
