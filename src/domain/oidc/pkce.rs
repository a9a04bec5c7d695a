//! PKCE (RFC 7636): the client sends `BASE64URL(SHA-256(verifier))` with the authorization
//! request and the verifier with the code. Only `S256`: `plain` would hand the verifier to
//! whoever sees the authorization request.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A code challenge (`S256`): 43 base64url characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

/// Why a challenge is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeError {
    /// A method other than `S256` (`plain` included).
    UnsupportedMethod,
    /// Not 43 base64url characters.
    Malformed,
}

impl CodeChallenge {
    /// The challenge of an authorization request; `method` absent means `plain` (RFC 7636
    /// section 4.3), which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, ChallengeError> {
        if method != Some("S256") {
            return Err(ChallengeError::UnsupportedMethod);
        }
        let well_formed = challenge.len() == 43
            && URL_SAFE_NO_PAD
                .decode(challenge)
                .is_ok_and(|bytes| bytes.len() == 32);
        if !well_formed {
            return Err(ChallengeError::Malformed);
        }
        Ok(Self(challenge.to_string()))
    }

    /// A stored challenge, as it was accepted.
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` (43 to 128 unreserved characters) hashes to this challenge; constant
    /// time in the comparison.
    pub fn verify(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !well_formed {
            return false;
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        computed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(challenge.verify(VERIFIER));
        assert!(!challenge.verify(&VERIFIER.replace('d', "e")));
    }

    #[test]
    fn plain_and_missing_methods_are_refused() {
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, Some("plain")),
            Err(ChallengeError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, None),
            Err(ChallengeError::UnsupportedMethod)
        );
    }

    #[test]
    fn malformed_challenges_and_verifiers_are_refused() {
        assert_eq!(
            CodeChallenge::parse("short", Some("S256")),
            Err(ChallengeError::Malformed)
        );
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(!challenge.verify("too-short"));
        assert!(!challenge.verify(&format!("{VERIFIER} ")));
    }
}
