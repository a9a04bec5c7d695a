//! Nonces: stateless, expiring, bound to what they were issued for. A nonce is its expiry, a
//! random part and a MAC tag over both and the purpose, under the server's nonce key.

use hmac::Mac;
use rand::{distr::Alphanumeric, RngExt};
use subtle::ConstantTimeEq;

use super::{mac, time_digits, time_of_digits, Keys, BASE62, TIME_DIGITS};

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
    /// Approving the pairing `pairing_id` (cross-device sign-in) by a signature of `address`.
    Pairing {
        pairing_id: &'a str,
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
            Self::Pairing {
                pairing_id,
                address,
            } => ("pairing", vec![pairing_id, address]),
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
    fn pairing_nonces_bind_pairing_and_address() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let pairing = NonceFor::Pairing {
            pairing_id: "p1",
            address: "0xAb",
        };
        let nonce = keys.new_nonce(1_795_000_000_123, pairing);
        assert!(keys.nonce_matches(&nonce, pairing));
        for other in [
            NonceFor::SignIn,
            NonceFor::Pairing {
                pairing_id: "p2",
                address: "0xAb",
            },
            NonceFor::Pairing {
                pairing_id: "p1",
                address: "0xAc",
            },
            // Same values, another purpose.
            NonceFor::Reauth {
                session_id: "p1",
                address: "0xAb",
            },
        ] {
            assert!(!keys.nonce_matches(&nonce, other), "{other:?}");
        }
        let sign_in = keys.new_nonce(1_795_000_000_123, NonceFor::SignIn);
        assert!(!keys.nonce_matches(&sign_in, pairing));
    }

    #[test]
    fn nonces_sort_by_expiry() {
        let keys = Keys::from_secret(b"one secret that is long enough....");
        let first = keys.new_nonce(1_795_000_000_123, NonceFor::SignIn);
        let second = keys.new_nonce(1_795_000_000_124, NonceFor::SignIn);
        assert!(first < second, "{first} then {second}");
    }
}
