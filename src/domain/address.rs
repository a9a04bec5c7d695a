//! An Ethereum address: the one place addresses are parsed from text and written in their
//! EIP-55 mixed-case form. Everything above stores, compares and shows [`Address`] values, so
//! two spellings of one address can never be two wallets. Pure: no I/O.

use std::{fmt, str::FromStr};

use crate::error::{AppError, AppResult, ErrorCode};

/// 20 bytes, shown as `0x` and 40 hex digits in the EIP-55 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 20]);

impl Address {
    pub const fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
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
        let digits = text.strip_prefix("0x").ok_or_else(invalid)?;
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| invalid())?;
        let address = Self(bytes);
        let mixed = digits.bytes().any(|b| b.is_ascii_lowercase())
            && digits.bytes().any(|b| b.is_ascii_uppercase());
        if mixed && address.to_string()[2..] != *digits {
            return Err(invalid());
        }
        Ok(address)
    }

    /// "0x1234…abcd": the default name of an account made by a sign-in.
    pub fn short(&self) -> String {
        let full = self.to_string();
        format!("{}…{}", &full[..6], &full[full.len() - 4..])
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&signinwithethereum::eip55(&self.0))
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
    fn the_short_form_keeps_head_and_tail() {
        assert_eq!(Address::parse(EIP55).unwrap().short(), "0xC02a…6Cc2");
    }
}
