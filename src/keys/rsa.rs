//! What is particular to RSA (JWT algorithm RS256, what OpenID Connect requires) in a signing
//! key: a 2048-bit key generated and used by aws-lc-rs (constant-time private-key operations),
//! kept in the key file as PKCS#8 PEM (`openssl pkey` reads it), and the keys and public JWK
//! (`n`, `e`) made from it.

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
    signature::KeyPair as _,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};

use super::jwt::KeyMaterial;

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
/// Smaller keys are refused when a key file is read (NIST: 2048 bits at least).
const MIN_BITS: usize = 2048;

/// A new RSA-2048 private key, as the key file keeps it (PKCS#8 PEM).
pub fn new_private_key() -> anyhow::Result<String> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
    let der: aws_lc_rs::encoding::Pkcs8V1Der = pair
        .as_der()
        .map_err(|_| anyhow::anyhow!("RSA key encoding failed"))?;
    let body = STANDARD.encode(der.as_ref());
    let mut pem = String::with_capacity(body.len() + 80);
    pem.push_str(PEM_BEGIN);
    pem.push('\n');
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line)?);
        pem.push('\n');
    }
    pem.push_str(PEM_END);
    pem.push('\n');
    Ok(pem)
}

/// The keys a stored PKCS#8 PEM stands for; fails unless it is an RSA key of 2048 bits or more.
pub fn load(pem: &str) -> anyhow::Result<KeyMaterial> {
    let body: String = pem
        .trim()
        .strip_prefix(PEM_BEGIN)
        .and_then(|rest| rest.strip_suffix(PEM_END))
        .ok_or_else(|| anyhow::anyhow!("not a PEM \"PRIVATE KEY\" (PKCS#8)"))?
        .split_whitespace()
        .collect();
    let pair = KeyPair::from_pkcs8(&STANDARD.decode(body)?)
        .map_err(|e| anyhow::anyhow!("RSA key: {e}"))?;
    anyhow::ensure!(
        pair.public_modulus_len() * 8 >= MIN_BITS,
        "RSA keys have {MIN_BITS} bits at least"
    );
    let public = pair.public_key();
    let n = public.modulus().big_endian_without_leading_zero();
    let e = public.exponent().big_endian_without_leading_zero();
    let mut jwk = serde_json::Map::new();
    jwk.insert("kty".into(), "RSA".into());
    jwk.insert("n".into(), URL_SAFE_NO_PAD.encode(n).into());
    jwk.insert("e".into(), URL_SAFE_NO_PAD.encode(e).into());
    Ok(KeyMaterial {
        encoding: jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())?,
        decoding: jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e),
        public_jwk: jwk,
    })
}
