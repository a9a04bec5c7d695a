//! EIP-191 signatures: their hex form, and recovery of the signer over the exact bytes the
//! client signed (never a re-rendering of the message). Pure.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use sha3::{Digest, Keccak256};

use super::Message;
use crate::error::{AppError, AppResult, ErrorCode};

/// Accepts 65 bytes as hex, with or without `0x`.
pub fn parse_signature(text: &str) -> AppResult<[u8; 65]> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut signature = [0u8; 65];
    hex::decode_to_slice(digits, &mut signature).map_err(|_| {
        AppError::new(
            ErrorCode::InvalidSignatureFormat,
            "The signature must be 65 bytes written as 130 hex digits (optionally 0x-prefixed).",
        )
    })?;
    Ok(signature)
}

/// The address whose key made `signature` over the EIP-191 personal-message hash of `text`.
pub fn recover_signer(text: &str, signature: &[u8; 65]) -> Option<[u8; 20]> {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", text.len()));
    hasher.update(text.as_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    let v = match signature[64] {
        v @ (0 | 1) => v,
        v @ (27 | 28) => v - 27,
        _ => return None,
    };
    let id = RecoveryId::try_from(i32::from(v)).ok()?;
    let sig = RecoverableSignature::from_compact(&signature[..64], id).ok()?;
    let key = sig
        .recover(secp256k1::Message::from_digest(digest))
        .ok()?
        .serialize_uncompressed();
    let hash = Keccak256::digest(&key[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    Some(address)
}

/// Fails unless `signature` over `text` was made by the message's address.
pub fn verify_signature(message: &Message, text: &str, signature: &[u8; 65]) -> AppResult<()> {
    match recover_signer(text, signature) {
        Some(signer) if signer == message.address => Ok(()),
        _ => Err(AppError::new(
            ErrorCode::InvalidSignature,
            "The signature was not made by the address in the message.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_hex_must_be_65_bytes() {
        assert!(parse_signature(&format!("0x{}", "ab".repeat(65))).is_ok());
        assert!(parse_signature(&"ab".repeat(65)).is_ok());
        for bad in [
            "",
            "0x",
            &"ab".repeat(64),
            &"ab".repeat(66),
            &format!("0x{}", "zz".repeat(65)),
        ] {
            assert_eq!(
                parse_signature(bad).unwrap_err().code(),
                ErrorCode::InvalidSignatureFormat
            );
        }
    }
}
