//! What is particular to Ed25519 (JWT algorithm EdDSA) in a signing key: its 32-byte seed,
//! kept base64url in the key file, and the keys and public JWK made from it.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::Rng;

use super::jwt::KeyMaterial;

/// A new random seed, as the key file keeps it.
pub fn new_seed() -> String {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    URL_SAFE_NO_PAD.encode(seed)
}

/// The keys a stored seed stands for; fails unless it is a 32-byte seed.
pub fn load(seed: &str) -> anyhow::Result<KeyMaterial> {
    let seed = URL_SAFE_NO_PAD.decode(seed)?;
    anyhow::ensure!(seed.len() == 32, "an Ed25519 seed is 32 bytes");
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|e| anyhow::anyhow!("Ed25519 seed: {e}"))?;
    let pkcs8 = pair
        .to_pkcs8()
        .map_err(|_| anyhow::anyhow!("Ed25519 key encoding failed"))?;
    let public = pair.public_key().as_ref();
    let mut jwk = serde_json::Map::new();
    jwk.insert("kty".into(), "OKP".into());
    jwk.insert("crv".into(), "Ed25519".into());
    jwk.insert("x".into(), URL_SAFE_NO_PAD.encode(public).into());
    Ok(KeyMaterial {
        encoding: jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
        decoding: jsonwebtoken::DecodingKey::from_ed_der(public),
        public_jwk: jwk,
    })
}
