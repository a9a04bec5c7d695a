//! Cross-device sign-in ("pairing") as pure rules: a pairing's id (the only thing in its QR code
//! and link), the short code a person compares and may type (RFC 8628's base-20 consonants), its
//! states, the statement of the message a phone signs to approve it, and which client addresses
//! count as one network. No I/O.

use std::net::IpAddr;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::{Rng, RngExt};

use super::{address::Address, id::UserId, siwe::ContractSigner};

/// Random bytes of a pairing id (128 bits), and its length in base64url without padding.
const ID_BYTES: usize = 16;
const ID_LEN: usize = 22;

/// A pairing's id: 128 random bits in base64url. It names the pairing in the QR code and the
/// phone's link, and proves nothing by itself (claiming needs the desktop's secret).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PairingId(String);

impl PairingId {
    pub fn random() -> Self {
        let mut bytes = [0u8; ID_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// An id of the shape this server hands out; `None` for anything else (saves a look-up).
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD
                .decode(text)
                .is_ok_and(|bytes| bytes.len() == ID_BYTES);
        well_formed.then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PairingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 8628 section 6.1's alphabet: consonants only (no vowels, so no words; no look-alikes).
pub const CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters of a code: 20^8, about 34 bits, against a few thousand live pairings at most.
pub const CODE_LETTERS: usize = 8;

/// The code shown on the desktop and typed or compared on the phone: 8 letters, stored without
/// the dash, shown `XXXX-XXXX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PairingCode(String);

impl PairingCode {
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let code = (0..CODE_LETTERS)
            .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
            .collect();
        Self(code)
    }

    /// What a person typed, in any case, with any spaces and dashes; `None` unless it is 8
    /// letters of the alphabet. Bounded: a long input is refused before it is looked at.
    pub fn normalise(typed: &str) -> Option<Self> {
        if typed.len() > 64 {
            return None;
        }
        let code: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = code.len() == CODE_LETTERS && code.bytes().all(|b| CODE_ALPHABET.contains(&b));
        valid.then_some(Self(code))
    }

    /// As stored: 8 letters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let (first, second) = self.0.split_at(CODE_LETTERS / 2);
        format!("{first}-{second}")
    }
}

/// Where a pairing is. `Expired` is never stored: a pairing not claimed by its expiry is
/// expired, whatever its stored state (see [`Pairing::state_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingState {
    /// Waiting for a phone to approve or decline it.
    Pending,
    /// A wallet signed for it; the desktop may claim its session.
    Approved,
    Declined,
    Expired,
    /// The desktop has its session; it serves for nothing more.
    Claimed,
}

impl PairingState {
    pub const STORED: [Self; 4] = [Self::Pending, Self::Approved, Self::Declined, Self::Claimed];

    /// The stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Claimed => "claimed",
        }
    }

    /// A stored state's name read back; `None` for anything else (`expired` included).
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::STORED.into_iter().find(|s| s.as_str() == name)
    }
}

/// Who approved a pairing: the account its wallet signs in to, and when it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub user_id: UserId,
    pub address: Address,
    pub chain_id: u64,
    /// Unix ms; the desktop's session counts as signed at this time.
    pub approved_at: i64,
    /// Whether the approval created the account.
    pub created_account: bool,
    /// Set when a wallet contract, not a key, accepted the approval's signature: the desktop's
    /// session keeps it to ask the contract again.
    pub contract: Option<ContractSigner>,
}

/// A stored pairing.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub id: PairingId,
    pub code: PairingCode,
    /// The MAC of the desktop's secret (the secret itself is never stored).
    pub secret_mac: Vec<u8>,
    /// The desktop's User-Agent and address, as it asked for the pairing.
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    pub expires_at: i64,
    /// As stored: never `Expired`.
    pub stored_state: PairingState,
    pub approval: Option<Approval>,
}

impl Pairing {
    /// Its state at `now_ms`: past its expiry, anything not claimed is expired.
    pub fn state_at(&self, now_ms: i64) -> PairingState {
        if self.stored_state != PairingState::Claimed && now_ms >= self.expires_at {
            PairingState::Expired
        } else {
            self.stored_state
        }
    }
}

/// Longest device description a statement carries.
const DEVICE_IN_STATEMENT_MAX: usize = 64;

/// The statement of the message a phone signs to approve a pairing: it says that it signs in
/// ANOTHER device, names that device and the code, e.g. `Sign in on another device (Firefox on
/// Windows), code BDFH-JKLM.` One line of EIP-4361's statement characters, bounded: the device's
/// description keeps only letters, digits, spaces and `._()-`, at most 64 of them.
pub fn approval_statement(device_label: Option<&str>, code: &PairingCode) -> String {
    let device: String = device_label
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " ._()-".contains(*c))
        .take(DEVICE_IN_STATEMENT_MAX)
        .collect();
    let device = device.trim();
    let device = if device.is_empty() {
        "unknown browser"
    } else {
        device
    };
    format!(
        "Sign in on another device ({device}), code {}.",
        code.display()
    )
}

/// Whether two client addresses look like one network: the same IPv4 /24 or IPv6 /64 (one home
/// or office behind one router, usually). A hint for the person, never a rule.
pub fn same_network(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
        (IpAddr::V6(a), IpAddr::V6(b)) => a.octets()[..8] == b.octets()[..8],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_parse_back() {
        let (a, b) = (PairingId::random(), PairingId::random());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), ID_LEN);
        assert_eq!(PairingId::parse(a.as_str()), Some(a.clone()));
        for junk in [
            "",
            &a.as_str()[1..],
            &format!("{a}A"),
            "!!!!!!!!!!!!!!!!!!!!!!",
            // 22 characters whose last one carries bits past 128.
            "AAAAAAAAAAAAAAAAAAAAAB",
        ] {
            assert_eq!(PairingId::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn codes_use_the_alphabet_and_read_back_however_typed() {
        for _ in 0..100 {
            let code = PairingCode::random();
            assert_eq!(code.as_str().len(), CODE_LETTERS);
            assert!(code.as_str().bytes().all(|b| CODE_ALPHABET.contains(&b)));
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(PairingCode::normalise(&shown), Some(code.clone()));
        }
        let code = PairingCode::normalise("BDFH-JKLM").unwrap();
        for typed in [
            "bdfhjklm",
            " bdfh jklm ",
            "Bd-Fh-Jk-Lm",
            "BDFH\tJKLM",
            "bdfh--jklm",
        ] {
            assert_eq!(PairingCode::normalise(typed), Some(code.clone()), "{typed}");
        }
        for wrong in [
            "",
            "BDFHJKL",
            "BDFHJKLMN",
            "ABCDEFGH",
            "BDFH-JKL1",
            "BDFH_JKLM",
            "ВDFHJKLM",
            &"-".repeat(100),
        ] {
            assert_eq!(PairingCode::normalise(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn states_read_back_and_expire_unless_claimed() {
        for state in PairingState::STORED {
            assert_eq!(PairingState::from_stored(state.as_str()), Some(state));
        }
        assert_eq!(PairingState::from_stored("expired"), None);
        let mut pairing = Pairing {
            id: PairingId::random(),
            code: PairingCode::random(),
            secret_mac: vec![0; 32],
            user_agent: None,
            ip: None,
            created_at: 1_000,
            expires_at: 2_000,
            stored_state: PairingState::Pending,
            approval: None,
        };
        for stored in [
            PairingState::Pending,
            PairingState::Approved,
            PairingState::Declined,
        ] {
            pairing.stored_state = stored;
            assert_eq!(pairing.state_at(1_999), stored);
            assert_eq!(pairing.state_at(2_000), PairingState::Expired);
        }
        pairing.stored_state = PairingState::Claimed;
        assert_eq!(pairing.state_at(9_999), PairingState::Claimed);
    }

    #[test]
    fn the_statement_names_the_device_and_code_on_one_bounded_ascii_line() {
        let code = PairingCode::normalise("BDFHJKLM").unwrap();
        assert_eq!(
            approval_statement(Some("Firefox on Windows"), &code),
            "Sign in on another device (Firefox on Windows), code BDFH-JKLM."
        );
        assert_eq!(
            approval_statement(None, &code),
            "Sign in on another device (unknown browser), code BDFH-JKLM."
        );
        let hostile = format!("Evil\nURI: https://x\u{202e} {}", "A".repeat(500));
        let statement = approval_statement(Some(&hostile), &code);
        assert!(statement.is_ascii() && !statement.contains('\n'));
        assert!(statement.len() < 120, "{statement}");
        assert!(crate::domain::siwe::is_valid_statement(&statement));
        assert!(statement.ends_with("code BDFH-JKLM."));
    }

    #[test]
    fn one_network_is_one_ipv4_24_or_ipv6_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(same_network(ip("203.0.113.7"), ip("203.0.113.200")));
        assert!(!same_network(ip("203.0.113.7"), ip("203.0.114.7")));
        assert!(same_network(
            ip("2001:db8:1:2::1"),
            ip("2001:db8:1:2:ffff::9")
        ));
        assert!(!same_network(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1")));
        assert!(!same_network(ip("203.0.113.7"), ip("::ffff:203.0.113.7")));
    }
}
