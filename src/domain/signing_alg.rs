//! The JWT signature algorithms this server signs with (`keys/` holds the keys). It lives in the
//! domain, below `keys/`, because OpenID Connect clients name the one their ID tokens use.

use serde::{Deserialize, Serialize};

/// A JWS algorithm (RFC 7518 names; EdDSA per RFC 8037, with Ed25519 keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 and a 2048-bit key: what OpenID Connect requires.
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519: the tokens of `POST /api/auth/token`, and what key files without `alg` hold.
    #[default]
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlg {
    pub const ALL: [Self; 2] = [Self::EdDsa, Self::Rs256];

    /// The name in a JWS header, a JWK and OpenID Connect metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `name` exactly (as `as_str` writes it), if this server signs with it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SigningAlg;

    #[test]
    fn names_are_the_jws_names_in_serde_too() {
        for alg in SigningAlg::ALL {
            assert_eq!(SigningAlg::from_name(alg.as_str()), Some(alg));
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
            assert_eq!(serde_json::from_str::<SigningAlg>(&json).unwrap(), alg);
        }
        assert_eq!(SigningAlg::from_name("rs256"), None);
        assert_eq!(SigningAlg::from_name("HS256"), None);
    }
}
