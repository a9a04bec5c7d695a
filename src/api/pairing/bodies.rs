//! The JSON shapes of /api/pairings, and their conversion from the pairing room's types.

use poem_openapi::{types::Example, Enum, Object};
use time::OffsetDateTime;

use crate::{
    api::dto::Text,
    clock::from_unix_ms,
    domain::pairing::PairingState,
    pairing::{Created, PairingView},
};

/// A new pairing. Keep `secret` in the desktop page's memory only (never in a URL or the QR
/// code): it claims the session.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PairingCreatedBody {
    /// 128 random bits, base64url: names the pairing in the phone's link and the QR code.
    pub id: String,
    /// 256 random bits, base64url, for `POST /api/pairings/{id}/claim`.
    pub secret: String,
    /// Shown on the desktop, compared (or typed) on the phone: `XXXX-XXXX`.
    pub code: String,
    pub expires_at: OffsetDateTime,
    /// The phone's page for this pairing (the QR code's content).
    pub phone_url: String,
    /// The QR code of `phoneUrl` as SVG, relative to this server.
    pub qr_url: String,
}

/// Where a pairing is: `expired` once past `expiresAt` without a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum PairingStateBody {
    Pending,
    Approved,
    Declined,
    Expired,
    Claimed,
}

impl From<PairingState> for PairingStateBody {
    fn from(state: PairingState) -> Self {
        match state {
            PairingState::Pending => Self::Pending,
            PairingState::Approved => Self::Approved,
            PairingState::Declined => Self::Declined,
            PairingState::Expired => Self::Expired,
            PairingState::Claimed => Self::Claimed,
        }
    }
}

/// The device that asked for a pairing, as its User-Agent and address say.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PairingDevice {
    #[oai(nullable)]
    pub browser: Option<String>,
    #[oai(nullable)]
    pub os: Option<String>,
    /// "Firefox on macOS" (English), or the browser alone.
    #[oai(nullable)]
    pub label: Option<String>,
    #[oai(nullable)]
    pub ip: Option<String>,
}

/// A pairing as it is now.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct PairingBody {
    pub id: String,
    pub state: PairingStateBody,
    /// `XXXX-XXXX`: the desktop shows the same.
    pub code: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The device that asked for the pairing (the desktop).
    pub device: PairingDevice,
    /// Whether that device and the one asking now look like one network (same IPv4 /24 or
    /// IPv6 /64): a hint, never a rule.
    pub same_network: bool,
}

impl From<PairingView> for PairingBody {
    fn from(view: PairingView) -> Self {
        Self {
            id: view.id.to_string(),
            state: view.state.into(),
            code: view.code.display(),
            created_at: from_unix_ms(view.created_at),
            expires_at: from_unix_ms(view.expires_at),
            device: PairingDevice {
                label: view.device.label(),
                browser: view.device.browser,
                os: view.device.os,
                ip: view.ip,
            },
            same_network: view.same_network,
        }
    }
}

/// A code as typed on the phone.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct PairingLookupRequest {
    /// 8 letters, in any case, with or without spaces and dashes.
    #[oai(validator(max_length = 64))]
    pub code: Text,
}

impl Example for PairingLookupRequest {
    fn example() -> Self {
        Self {
            code: "BDFH-JKLM".into(),
        }
    }
}

/// The pending pairing a code names.
#[derive(Debug, Clone, Object)]
pub struct PairingIdBody {
    pub id: String,
}

/// An approved pairing.
#[derive(Debug, Clone, Object)]
pub struct PairingApprovedBody {
    pub state: PairingStateBody,
    /// The wallet that approved it (EIP-55).
    pub address: String,
}

/// A declined pairing.
#[derive(Debug, Clone, Object)]
pub struct PairingDeclinedBody {
    pub state: PairingStateBody,
}

/// The desktop's secret, from the pairing's creation.
#[derive(Debug, Clone, Object)]
pub struct PairingClaimRequest {
    #[oai(validator(max_length = 128))]
    pub secret: Text,
}

pub(super) fn created_body(created: Created) -> PairingCreatedBody {
    PairingCreatedBody {
        qr_url: format!("/api/pairings/{}/qr", created.id),
        id: created.id.to_string(),
        secret: created.secret,
        code: created.code.display(),
        expires_at: from_unix_ms(created.expires_at),
        phone_url: created.phone_url,
    }
}
