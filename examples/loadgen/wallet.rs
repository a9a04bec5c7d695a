//! A wallet for the generator: a random k256 key, its address, and EIP-191 `personal_sign`.

use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};

#[derive(Clone)]
pub struct Wallet {
    key: SigningKey,
    /// 0x and 40 lowercase hex digits.
    pub address: String,
}

impl Wallet {
    pub fn random() -> Self {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let hash = Keccak256::digest(&point.as_bytes()[1..]);
        let address = format!("0x{}", hex::encode(&hash[12..]));
        Self { key, address }
    }

    /// The `personal_sign` signature of `message`, as 0x and 65 bytes of hex.
    pub fn sign(&self, message: &str) -> anyhow::Result<String> {
        let mut hasher = Keccak256::new();
        hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()));
        hasher.update(message.as_bytes());
        let (sig, recid) = self.key.sign_prehash_recoverable(&hasher.finalize())?;
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(27 + recid.to_byte());
        Ok(format!("0x{}", hex::encode(bytes)))
    }
}
