//! An Ethereum address: the one place addresses are parsed from text and written in their
//! EIP-55 mixed-case form. Everything above stores, compares and shows [`Address`] values, so
//! two spellings of one address can never be two wallets. Pure: no I/O.

use std::{fmt, str::FromStr};

use sha3::{Digest, Keccak256};

use crate::error::{AppError, AppResult, ErrorCode};

/// 20 bytes, shown as `0x` and 40 hex digits in the EIP-55 form. The form is made once, when
/// the value is made: it costs a Keccak hash, and addresses are shown and stored often.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    bytes: [u8; 20],
    /// `0x` and the 40 digits of `bytes` in EIP-55 case: ASCII, always.
    text: [u8; 42],
}

impl Address {
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        let mut text = [0u8; 42];
        text[..2].copy_from_slice(b"0x");
        let digits = &mut text[2..];
        // Cannot fail: 40 digits for 20 bytes.
        let _ = hex::encode_to_slice(bytes, digits);
        let hash = Keccak256::digest(&*digits);
        for (i, digit) in digits.iter_mut().enumerate() {
            let nibble = if i % 2 == 0 {
                hash[i / 2] >> 4
            } else {
                hash[i / 2] & 0x0f
            };
            if nibble >= 8 {
                digit.make_ascii_uppercase();
            }
        }
        Self { bytes, text }
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.bytes
    }

    /// The EIP-55 form, `0x` and 40 hex digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// An address as a person or client writes it: `0x` and 40 hex digits, in one case or in
    /// its EIP-55 mixed case.
    pub fn parse(text: &str) -> AppResult<Self> {
        let invalid = || {
            AppError::new(
                ErrorCode::InvalidAddress,
                "The address must be 0x followed by 40 hex digits (mixed case only with a valid EIP-55 checksum).",
            )
        };
        let (digits, bytes) = hex_digits(text).ok_or_else(invalid)?;
        let address = Self::from_bytes(bytes);
        if has_both_cases(digits) && address.as_str()[2..] != *digits {
            return Err(invalid());
        }
        Ok(address)
    }

    /// An address as this server stored it: in its EIP-55 form, which is kept as read instead
    /// of hashed again (a session check reads two or three). Only a form with both cases is
    /// taken as read: every other spelling, and anything not an address, goes through
    /// [`Address::parse`].
    pub fn from_stored(text: &str) -> AppResult<Self> {
        match hex_digits(text) {
            Some((digits, bytes)) if has_both_cases(digits) => {
                let mut stored = [0u8; 42];
                stored.copy_from_slice(text.as_bytes());
                Ok(Self {
                    bytes,
                    text: stored,
                })
            }
            _ => Self::parse(text),
        }
    }

    /// "0x1234…abcd": the default name of an account made by a sign-in.
    pub fn short(&self) -> String {
        let full = self.as_str();
        format!("{}…{}", &full[..6], &full[full.len() - 4..])
    }
}

/// `0x` and exactly 40 hex digits: the digits and the 20 bytes they spell.
fn hex_digits(text: &str) -> Option<(&str, [u8; 20])> {
    let digits = text.strip_prefix("0x")?;
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes).ok()?;
    Some((digits, bytes))
}

/// Mixed case: then the case is an EIP-55 checksum.
fn has_both_cases(digits: &str) -> bool {
    digits.bytes().any(|b| b.is_ascii_lowercase()) && digits.bytes().any(|b| b.is_ascii_uppercase())
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Address {
    type Err = AppError;

    fn from_str(text: &str) -> AppResult<Self> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EIP55: &str = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2";

    #[test]
    fn a_stored_address_is_the_parsed_one() {
        let all_digits = "0x1234567890123456789012345678901234567890";
        for text in [EIP55, all_digits, &EIP55.to_lowercase()] {
            let parsed = Address::parse(text).unwrap();
            let stored = Address::from_stored(text).unwrap();
            assert_eq!(stored, parsed);
            assert_eq!(stored.as_str(), parsed.as_str());
        }
        for bad in ["0xZ02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0x1234", ""] {
            assert!(Address::from_stored(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_in_any_single_case_or_valid_checksum() {
        let address = Address::parse(EIP55).unwrap();
        assert_eq!(address.to_string(), EIP55);
        assert_eq!(Address::parse(&EIP55.to_lowercase()).unwrap(), address);
        assert_eq!(
            Address::parse(&format!("0x{}", EIP55[2..].to_uppercase())).unwrap(),
            address
        );
        for bad in [
            "0xc02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
            "C02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
            "0x1234",
            "",
        ] {
            assert_eq!(
                Address::parse(bad).unwrap_err().code(),
                ErrorCode::InvalidAddress,
                "{bad}"
            );
        }
    }

    #[test]
    fn the_eip55_form_is_the_one_the_siwe_crate_writes() {
        for byte in 0..=255u8 {
            let bytes: [u8; 20] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ byte);
            assert_eq!(
                Address::from_bytes(bytes).as_str(),
                signinwithethereum::eip55(&bytes)
            );
        }
    }

    #[test]
    fn the_short_form_keeps_head_and_tail() {
        assert_eq!(Address::parse(EIP55).unwrap().short(), "0xC02a…6Cc2");
    }
}
