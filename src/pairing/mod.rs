//! Cross-device sign-in ("pairing"): a desktop without a wallet asks for a pairing and shows its
//! QR code and code; a phone's wallet approves it by signing a message that names the desktop
//! (`approve.rs`); the desktop claims a session of its own with a secret only it holds
//! (`claim.rs`). It signs in through the service's signed-message path and sessions and never
//! re-implements them; it knows nothing of HTTP (`api/pairing/` translates). Its pure rules
//! are `domain/pairing.rs`, its SQL `db/pairings.rs`.

mod approve;
mod claim;

use std::{net::IpAddr, sync::Arc};

use qrcode::{render::svg, EcLevel, QrCode};

use crate::{
    config::Pairing as PairingConfig,
    db::pairings::{self, Inserted},
    domain::{
        device::Device,
        pairing::{same_network, Pairing, PairingCode, PairingId, PairingState},
        token,
    },
    error::{AppError, AppResult, ErrorCode},
    service::{ClientInfo, Service},
};

/// Tries at a code no stored pairing has: with 20^8 codes and at most `max_pending` live
/// pairings, a second try is already rare.
const CODE_TRIES: usize = 4;
/// Longest User-Agent kept with a pairing (as with sessions).
const USER_AGENT_MAX: usize = 512;

/// Cross-device sign-in, shared by all requests.
pub struct Pairings {
    service: Arc<Service>,
    config: PairingConfig,
    /// The origin of public_url, without trailing slash: the phone's link starts with it.
    origin: String,
}

/// A new pairing, as its desktop gets it (the only time the secret is told).
#[derive(Debug, Clone)]
pub struct Created {
    pub id: PairingId,
    /// 256 random bits in base64url; only its MAC is stored.
    pub secret: String,
    pub code: PairingCode,
    /// Unix ms.
    pub expires_at: i64,
    /// The phone's page for it, the QR code's content.
    pub phone_url: String,
}

/// What a pairing shows: its state, and which device asked for it.
#[derive(Debug, Clone)]
pub struct PairingView {
    pub id: PairingId,
    pub state: PairingState,
    pub code: PairingCode,
    /// Unix ms.
    pub created_at: i64,
    pub expires_at: i64,
    /// The desktop's browser and OS, from its User-Agent.
    pub device: Device,
    /// The desktop's address as it asked.
    pub ip: Option<String>,
    /// Whether the desktop and the device asking now look like one network.
    pub same_network: bool,
}

impl Pairings {
    pub fn new(service: Arc<Service>, config: PairingConfig, origin: String) -> Self {
        Self {
            service,
            config,
            origin,
        }
    }

    /// `pairing.enabled`.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// The phone's page for pairing `id`.
    pub fn phone_url(&self, id: &PairingId) -> String {
        format!("{}/pair/{id}", self.origin)
    }

    /// A new pending pairing for the desktop `client`, unless `pairing.max_pending` are live
    /// (503 `pairing_capacity`, nothing stored).
    pub async fn create(&self, client: ClientInfo) -> AppResult<Created> {
        counted("create", self.create_pending(client).await)
    }

    async fn create_pending(&self, client: ClientInfo) -> AppResult<Created> {
        self.require_enabled()?;
        let secret = token::random_secret();
        let user_agent = client.user_agent.map(|mut ua| {
            ua.truncate(ua.floor_char_boundary(USER_AGENT_MAX));
            ua
        });
        for _ in 0..CODE_TRIES {
            let now = self.service.clock().now_ms();
            let id = PairingId::random();
            let pairing = Pairing {
                secret_mac: self
                    .service
                    .mac_keys()
                    .pairing_secret_mac(id.as_str(), &secret)
                    .to_vec(),
                id,
                code: PairingCode::random(),
                user_agent: user_agent.clone(),
                ip: client.ip.clone(),
                created_at: now,
                expires_at: now + self.config.ttl.as_millis() as i64,
                stored_state: PairingState::Pending,
                approval: None,
            };
            let max_live = self.config.max_pending;
            let stored = pairing.clone();
            let inserted = self
                .service
                .db()
                .write(move |conn| pairings::insert_within(conn, &stored, now, max_live))
                .await?;
            match inserted {
                Inserted::Stored => {
                    return Ok(Created {
                        phone_url: self.phone_url(&pairing.id),
                        id: pairing.id,
                        secret,
                        code: pairing.code,
                        expires_at: pairing.expires_at,
                    })
                }
                Inserted::Full => {
                    tracing::warn!(max_live, "pairing refused: pairing.max_pending are live");
                    return Err(AppError::new(
                        ErrorCode::PairingCapacity,
                        "Too many sign-ins from other devices are waiting; retry after the \
                         number of seconds in Retry-After.",
                    ));
                }
                Inserted::CodeTaken => continue,
            }
        }
        Err(AppError::Internal(anyhow::anyhow!(
            "no free pairing code in {CODE_TRIES} tries"
        )))
    }

    /// Pairing `id` as it is now, for `viewer` (its state for the desktop's polling; the device
    /// that asked for the phone's page). Changes nothing.
    pub fn view(&self, id: &str, viewer: &ClientInfo) -> AppResult<PairingView> {
        let pairing = self.find(id)?;
        let ip_of = |ip: Option<&String>| ip.and_then(|ip| ip.parse::<IpAddr>().ok());
        let same_network = match (ip_of(pairing.ip.as_ref()), ip_of(viewer.ip.as_ref())) {
            (Some(desktop), Some(viewer)) => same_network(desktop, viewer),
            _ => false,
        };
        Ok(PairingView {
            state: pairing.state_at(self.service.clock().now_ms()),
            device: device_of(&pairing),
            id: pairing.id,
            code: pairing.code,
            created_at: pairing.created_at,
            expires_at: pairing.expires_at,
            ip: pairing.ip,
            same_network,
        })
    }

    /// The pending pairing whose code was typed (in any case, with any spaces and dashes).
    pub fn lookup(&self, typed: &str) -> AppResult<PairingId> {
        self.require_enabled()?;
        let code = PairingCode::normalise(typed).ok_or_else(not_found)?;
        let pairing = self
            .service
            .db()
            .read(|conn| pairings::find_by_code(conn, &code))?
            .ok_or_else(not_found)?;
        match pairing.state_at(self.service.clock().now_ms()) {
            PairingState::Pending => Ok(pairing.id),
            other => Err(refusal(other)),
        }
    }

    /// Declines pending pairing `id` (the phone's person did not start it).
    pub async fn decline(&self, id: &str) -> AppResult<()> {
        counted("decline", self.decline_pending(id).await)
    }

    async fn decline_pending(&self, id: &str) -> AppResult<()> {
        self.require_enabled()?;
        let id = PairingId::parse(id).ok_or_else(not_found)?;
        let clock = self.service.clock().clone();
        self.service
            .db()
            .write(move |conn| {
                let now = clock.now_ms();
                if pairings::decline(conn, &id, now)? {
                    return Ok(());
                }
                let pairing = pairings::find(conn, &id)?.ok_or_else(not_found)?;
                Err(refusal(pairing.state_at(now)))
            })
            .await
    }

    /// The QR code of pending pairing `id`'s phone link, as an SVG image; an ended pairing's
    /// is refused as its state says (not 404: it exists).
    pub fn qr_svg(&self, id: &str) -> AppResult<String> {
        let pairing = self.find_pending(id)?;
        let link = self.phone_url(&pairing.id);
        let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)
            .map_err(|err| AppError::Internal(anyhow::anyhow!("QR code of {link}: {err}")))?;
        Ok(code
            .render::<svg::Color>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build())
    }

    /// Stored pairing `id`, if pairing is on.
    fn find(&self, id: &str) -> AppResult<Pairing> {
        self.require_enabled()?;
        let id = PairingId::parse(id).ok_or_else(not_found)?;
        self.service
            .db()
            .read(|conn| pairings::find(conn, &id))?
            .ok_or_else(not_found)
    }

    /// Stored pairing `id`, if pairing is on and it is pending.
    fn find_pending(&self, id: &str) -> AppResult<Pairing> {
        let pairing = self.find(id)?;
        match pairing.state_at(self.service.clock().now_ms()) {
            PairingState::Pending => Ok(pairing),
            other => Err(refusal(other)),
        }
    }

    fn require_enabled(&self) -> AppResult<()> {
        if self.config.enabled {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::NotFound,
                "There is nothing at this path: signing in from another device is off here.",
            ))
        }
    }
}

/// The desktop's browser and OS, from the User-Agent it asked with.
fn device_of(pairing: &Pairing) -> Device {
    Device::from_user_agent(pairing.user_agent.as_deref().unwrap_or_default())
}

fn not_found() -> AppError {
    AppError::new(
        ErrorCode::PairingNotFound,
        "No sign-in from another device has this id or code; check it, or start again on the \
         other device.",
    )
}

/// The refusal of a request that a pairing in `state` cannot take.
fn refusal(state: PairingState) -> AppError {
    match state {
        PairingState::Expired => AppError::new(
            ErrorCode::PairingExpired,
            "This sign-in from another device has expired; start again on the other device.",
        ),
        PairingState::Declined => AppError::new(
            ErrorCode::PairingDeclined,
            "This sign-in from another device was declined on the phone.",
        ),
        PairingState::Pending => AppError::new(
            ErrorCode::PairingNotApproved,
            "No wallet has approved this sign-in yet; ask again in a moment.",
        ),
        PairingState::Approved | PairingState::Claimed => AppError::new(
            ErrorCode::PairingUsed,
            "This sign-in from another device has been used already; start again on the other \
             device.",
        ),
    }
}

/// `result` of one `step`, counted in `siwe_pairings_total{step, result}` (`ok` or the error
/// code): how often people use it, and how often it is declined or refused.
fn counted<T>(step: &str, result: AppResult<T>) -> AppResult<T> {
    if let Some(m) = crate::metrics::metrics() {
        let outcome = result.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok");
        m.pairings.with_label_values(&[step, outcome]).inc();
    }
    result
}
