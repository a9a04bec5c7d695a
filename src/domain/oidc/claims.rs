//! What the provider says about a person: the claims of ID tokens (OpenID Connect Core 1.0
//! section 2), of access tokens (a JWT per RFC 9068) and of userinfo, the subject a client sees
//! (the account id, or a pairwise one per client) and `at_hash`. Pure: `oidc/` signs and serves
//! them.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use super::scope::{Scope, Scopes};
use crate::domain::{
    account::{display_name, User, Wallet},
    id::UserId,
    signing_alg::SigningAlg,
    token::{Keys, OidcSecret},
};

/// The header type of an access token (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// How the person signed in (RFC 8176): proof of possession of a key (the wallet's).
pub const AMR_PROOF_OF_POSSESSION: &str = "pop";

/// Every claim this provider may put in an ID token or a userinfo answer (discovery's
/// `claims_supported`).
pub const CLAIMS_SUPPORTED: [&str; 16] = [
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "amr",
    "preferred_username",
    "name",
    "eth_address",
    "wallets",
    "email",
    "email_verified",
];

/// The `sub` a client sees: the account id, or with `pairwise` an identifier of the account
/// for this client alone (OpenID Connect Core section 8.1), so that two clients cannot tell
/// they see the same person. Both are stable while wallets are linked or the primary changes.
pub fn subject(keys: &Keys, pairwise: bool, client_id: &str, user_id: &UserId) -> String {
    if pairwise {
        URL_SAFE_NO_PAD.encode(keys.oidc_mac(
            OidcSecret::PairwiseSubject,
            client_id,
            user_id.as_str(),
        ))
    } else {
        user_id.to_string()
    }
}

/// `at_hash`: the left half of the hash of the access token, base64url (Core section 3.1.3.6),
/// with the hash of the ID token's algorithm: SHA-256 for RS256, SHA-512 for EdDSA with
/// Ed25519 (Core errata set 2; what certified libraries compute).
pub fn access_token_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::Rs256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        SigningAlg::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// The claims about the person that the granted scopes release: userinfo's answer, and part of
/// the ID token. Never the standard `address` claim: that is a postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    pub sub: String,
    /// With `profile`: the display name, else the primary address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// With `profile` or `wallets`: the primary wallet, EIP-55.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eth_address: Option<String>,
    /// With `profile` or `wallets`: every linked wallet, EIP-55, primary first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallets: Option<Vec<String>>,
    /// With `email`, when the account has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl UserClaims {
    /// What `scopes` release about the account of `user` with its `wallets`, as `sub`.
    pub fn of(sub: String, user: &User, wallets: &[Wallet], scopes: &Scopes) -> Self {
        let mut ordered: Vec<&Wallet> = wallets.iter().collect();
        // Primary first, then in the order they were linked.
        ordered.sort_by_key(|w| (!w.is_primary, w.linked_at));
        let primary = ordered.first().map(|w| w.address);
        let profile = scopes.contains(Scope::Profile);
        let show_wallets = profile || scopes.contains(Scope::Wallets);
        let display_name = display_name(user, wallets).or_else(|| primary.map(|a| a.to_string()));
        let email = scopes
            .contains(Scope::Email)
            .then(|| user.email.clone())
            .flatten();
        Self {
            sub,
            preferred_username: display_name.clone().filter(|_| profile),
            name: display_name.filter(|_| profile),
            eth_address: primary.filter(|_| show_wallets).map(|a| a.to_string()),
            wallets: show_wallets.then(|| ordered.iter().map(|w| w.address.to_string()).collect()),
            email_verified: email.as_ref().map(|_| user.email_verified),
            email,
        }
    }
}

/// An ID token (Core section 2). Times are Unix seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    /// The client id.
    pub aud: String,
    /// The client the token was issued to (Core section 2; one audience, so equal to `aud`).
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    /// When the person last signed in with a signature.
    pub auth_time: i64,
    /// The authorization request's nonce; absent in ID tokens from a refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    pub amr: Vec<String>,
    #[serde(flatten)]
    pub user: UserClaims,
}

/// An access token: a JWT per RFC 9068 (header `typ: at+jwt`). Times are Unix seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The client's subject for the person (pairwise if the client is).
    pub sub: String,
    /// The client id: userinfo and introspection are this provider's resources, on its behalf.
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    pub auth_time: i64,
    /// The grant it was issued under: revoking the grant ends the token.
    pub grant: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::address::Address;

    fn user(name: &str, email: Option<&str>) -> User {
        User {
            id: UserId::new("0190a8a0-0000-7000-8000-000000000001".into()),
            name: name.into(),
            email: email.map(Into::into),
            email_verified: true,
            created_at: 0,
        }
    }

    fn wallet(byte: u8, is_primary: bool, linked_at: i64) -> Wallet {
        Wallet {
            address: Address::from_bytes([byte; 20]),
            user_id: UserId::new("u".into()),
            chain_id: 1,
            linked_at,
            last_sign_in_at: None,
            is_primary,
            ens: None,
        }
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256_for_rs256() {
        // OpenID Connect Core appendix A.3's access token and at_hash (RS256).
        assert_eq!(
            access_token_hash(
                SigningAlg::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha512_for_eddsa() {
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        let full = Sha512::digest(token.as_bytes());
        let expected = URL_SAFE_NO_PAD.encode(&full[..32]);
        assert_eq!(access_token_hash(SigningAlg::EdDsa, token), expected);
        assert_eq!(expected.len(), 43);
        assert_ne!(
            access_token_hash(SigningAlg::EdDsa, token),
            access_token_hash(SigningAlg::Rs256, token)
        );
    }

    #[test]
    fn pairwise_subjects_differ_per_client_and_are_stable() {
        let keys = Keys::from_secret(b"a server secret of some length...");
        let id = UserId::new("0190a8a0-0000-7000-8000-000000000001".into());
        let a = subject(&keys, true, "grafana", &id);
        assert_eq!(a, subject(&keys, true, "grafana", &id));
        assert_ne!(a, subject(&keys, true, "gitea", &id));
        assert_ne!(a, id.to_string());
        assert_eq!(subject(&keys, false, "grafana", &id), id.to_string());
    }

    #[test]
    fn scopes_release_their_claims_and_never_address() {
        let wallets = [wallet(0x22, false, 2), wallet(0x11, true, 5)];
        let user = user("Alice", Some("alice@example.org"));
        let claims = UserClaims::of("s".into(), &user, &wallets, &Scopes::parse_known("openid"));
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json, serde_json::json!({ "sub": "s" }));

        let all = Scopes::parse_known("openid profile email");
        let json = serde_json::to_value(UserClaims::of("s".into(), &user, &wallets, &all)).unwrap();
        let primary = Address::from_bytes([0x11; 20]).to_string();
        let other = Address::from_bytes([0x22; 20]).to_string();
        assert_eq!(
            json,
            serde_json::json!({
                "sub": "s", "preferred_username": "Alice", "name": "Alice",
                "eth_address": primary, "wallets": [primary, other],
                "email": "alice@example.org", "email_verified": true,
            })
        );
        assert!(json.get("address").is_none());

        let wallets_only = Scopes::parse_known("openid wallets");
        let claims = UserClaims::of("s".into(), &user, &wallets, &wallets_only);
        assert_eq!(claims.eth_address.as_deref(), Some(primary.as_str()));
        assert_eq!(claims.name, None);
        assert_eq!(claims.email, None);
    }

    #[test]
    fn the_default_name_gives_way_to_the_primary_address() {
        let primary = wallet(0x11, true, 1);
        let user = user(&primary.address.short(), None);
        let claims = UserClaims::of(
            "s".into(),
            &user,
            std::slice::from_ref(&primary),
            &Scopes::parse_known("openid profile email"),
        );
        assert_eq!(claims.name, Some(primary.address.to_string()));
        assert_eq!(claims.preferred_username, Some(primary.address.to_string()));
        // No email on the account: neither email claim.
        assert_eq!((claims.email, claims.email_verified), (None, None));
    }
}
