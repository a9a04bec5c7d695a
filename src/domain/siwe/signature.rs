//! EIP-191 signatures: their hex form, and recovery of the signer over the exact bytes the
//! client signed (never a re-rendering of the message). Pure.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use sha3::{Digest, Keccak256};

use super::Message;
use crate::error::{AppError, AppResult, ErrorCode};

/// A key's signature: r, s and v.
pub const KEY_SIGNATURE_BYTES: usize = 65;

/// What the last 32 bytes of an EIP-6492 signature are (a wrapper around the signature of a
/// wallet that may not be deployed yet).
pub const EIP6492_SUFFIX: [u8; 32] = [
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
];

/// A signature a wallet contract accepted, as it can be checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractSigner {
    pub chain_id: u64,
    /// The EIP-191 hash of the exact message received.
    pub hash: [u8; 32],
    /// The signature as received (an EIP-6492 wrapper included).
    pub signature: Vec<u8>,
}

/// Accepts 65 (a key's signature) to `max_bytes` (a wallet contract's) bytes as hex, with or
/// without `0x`.
pub fn parse_signature(text: &str, max_bytes: usize) -> AppResult<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits)
        .ok()
        .filter(|bytes| (KEY_SIGNATURE_BYTES..=max_bytes).contains(&bytes.len()))
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::InvalidSignatureFormat,
                format!(
                    "The signature must be {KEY_SIGNATURE_BYTES} to {max_bytes} bytes written \
                     as hex digits, two per byte (optionally 0x-prefixed): 130 digits for a \
                     key's signature, more for a smart-contract wallet's."
                ),
            )
        })
}

/// Whether `signature` carries the EIP-6492 suffix.
pub fn is_eip6492(signature: &[u8]) -> bool {
    signature.len() > EIP6492_SUFFIX.len() && signature.ends_with(&EIP6492_SUFFIX)
}

/// The EIP-191 personal-message hash of `text`: what its signer signed.
pub fn eip191_hash(text: &str) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(format!("\x19Ethereum Signed Message:\n{}", text.len()));
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

/// The address whose key made `signature` over the EIP-191 personal-message hash of `text`.
pub fn recover_signer(text: &str, signature: &[u8; 65]) -> Option<[u8; 20]> {
    let digest = eip191_hash(text);
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
/// Only a key's 65-byte signature can pass: a longer one is a wallet contract's to judge.
pub fn verify_signature(message: &Message, text: &str, signature: &[u8]) -> AppResult<()> {
    let signer = <&[u8; 65]>::try_from(signature)
        .ok()
        .and_then(|signature| recover_signer(text, signature));
    match signer {
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
    fn signature_hex_must_be_65_to_max_bytes() {
        assert_eq!(
            parse_signature(&format!("0x{}", "ab".repeat(65)), 100)
                .unwrap()
                .len(),
            65
        );
        assert!(parse_signature(&"ab".repeat(65), 65).is_ok());
        assert_eq!(parse_signature(&"ab".repeat(100), 100).unwrap().len(), 100);
        for bad in [
            "",
            "0x",
            &"ab".repeat(64),
            &"ab".repeat(101),
            &"a".repeat(131),
            &format!("0x{}", "zz".repeat(65)),
        ] {
            let refused = parse_signature(bad, 100).unwrap_err();
            assert_eq!(refused.code(), ErrorCode::InvalidSignatureFormat);
            assert!(refused.public_message().contains("65 to 100 bytes"));
        }
    }

    #[test]
    fn the_eip6492_suffix_is_recognised_only_after_a_signature() {
        let wrapped = [vec![1u8; 100], EIP6492_SUFFIX.to_vec()].concat();
        assert!(is_eip6492(&wrapped));
        assert!(!is_eip6492(&EIP6492_SUFFIX));
        assert!(!is_eip6492(&wrapped[..wrapped.len() - 1]));
        assert!(!is_eip6492(&[0x64; 65]));
    }
}
