//! Session tokens and CSRF tokens. A session token is 256 random bits; the database keeps only its
//! keyed MAC, so a copy of the database hands out no usable cookie. The CSRF token is a MAC of the
//! session id, so it needs no storage and is checked in constant time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rand::{distr::Alphanumeric, Rng, RngExt};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const TOKEN_BYTES: usize = 32;
/// Length of a session token in base64url without padding.
pub const TOKEN_LEN: usize = 43;
/// Length of a sign-in nonce: 22 alphanumerics carry about 131 bits.
pub const NONCE_LEN: usize = 22;

/// Keys derived from the server secret, one per purpose.
#[derive(Clone)]
pub struct Keys {
    session: [u8; 32],
    csrf: [u8; 32],
    email: [u8; 32],
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
        }
    }

    /// A fresh session token for the cookie or bearer header.
    pub fn new_session_token() -> String {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// What the database stores and looks sessions up by.
    pub fn session_token_hash(&self, token: &str) -> [u8; 32] {
        mac(&self.session, &[token.as_bytes()])
            .finalize()
            .into_bytes()
            .into()
    }

    /// What the database stores for a token sent in an email link.
    pub fn email_token_hash(&self, token: &str) -> [u8; 32] {
        mac(&self.email, &[token.as_bytes()])
            .finalize()
            .into_bytes()
            .into()
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
}

/// Whether a string could be a session token at all (saves a database look-up for junk).
pub fn looks_like_session_token(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Digits in byte order, so that base-62 numbers of one length sort like the numbers.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Base-62 digits of the time prefix: milliseconds for the next 6,000 years.
const NONCE_TIME_DIGITS: usize = 8;

/// A sign-in nonce: the issue time in milliseconds (8 base-62 digits), then 22 random
/// alphanumerics. Only the random part is secret; the time prefix makes nonces sort by age,
/// so new ones are appended to the end of the table's B-tree instead of being scattered
/// through it, which keeps each insert to a page or two of writes.
pub fn new_nonce() -> String {
    let mut millis = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let mut prefix = [b'0'; NONCE_TIME_DIGITS];
    for digit in prefix.iter_mut().rev() {
        *digit = BASE62[(millis % 62) as usize];
        millis /= 62;
    }
    let mut nonce: String = prefix.iter().copied().map(char::from).collect();
    nonce.extend(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(NONCE_LEN)
            .map(char::from),
    );
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = Keys::new_session_token();
        let b = Keys::new_session_token();
        assert_ne!(a, b);
        assert!(looks_like_session_token(&a));
        let n = new_nonce();
        assert_eq!(n.len(), NONCE_TIME_DIGITS + NONCE_LEN);
        assert!(n.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(n[NONCE_TIME_DIGITS..], new_nonce()[NONCE_TIME_DIGITS..]);
    }

    #[test]
    fn nonces_sort_by_issue_time() {
        let first = new_nonce();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_nonce();
        assert!(first < second, "{first} then {second}");
        assert!(first[..NONCE_TIME_DIGITS] < second[..NONCE_TIME_DIGITS]);
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
        assert_ne!(keys.session_token_hash("t"), other.session_token_hash("t"));
    }
}
