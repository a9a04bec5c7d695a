//! What is particular to Ed25519 (JWT algorithm EdDSA) in a signing key: its 32-byte seed,
//! kept base64url in the key file, the key jsonwebtoken signs with, and its public JWK.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::{pkcs8::EncodePrivateKey, SigningKey};
use rand::Rng;

pub const ALGORITHM: jsonwebtoken::Algorithm = jsonwebtoken::Algorithm::EdDSA;

/// A new random seed, as the key file keeps it.
pub fn new_seed() -> String {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    URL_SAFE_NO_PAD.encode(seed)
}

fn signing_key(seed: &str) -> anyhow::Result<SigningKey> {
    let seed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(seed)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("not 32 bytes"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Fails unless `seed` is a seed.
pub fn check(seed: &str) -> anyhow::Result<()> {
    signing_key(seed).map(drop)
}

pub fn encoding_key(seed: &str) -> anyhow::Result<jsonwebtoken::EncodingKey> {
    let der = signing_key(seed)?
        .to_pkcs8_der()
        .map_err(|e| anyhow::anyhow!("key encoding: {e}"))?;
    Ok(jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()))
}

/// The public key as a JWK, with its key id.
pub fn public_jwk(seed: &str, kid: &str) -> anyhow::Result<serde_json::Value> {
    let public = signing_key(seed)?.verifying_key().to_bytes();
    Ok(serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(public),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }))
}
