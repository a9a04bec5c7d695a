//! What the product does, in its own words: issue nonces, sign people in, link and unlink
//! wallets, keep profiles, list and end sessions, record security events. Knows nothing of HTTP.

mod cpu_pool;
mod email;
mod sign_in;
mod sudo;
mod wallets;

use std::sync::Arc;

use rusqlite::Connection;
use time::{Duration, OffsetDateTime};

pub use cpu_pool::CpuPool;
pub use email::{EmailLinkKind, EmailLinkPreview};
pub use sign_in::{Account, Authenticated, NonceIssued, SignIn, SignInOutcome, SignInRequest};
pub use wallets::{Challenge, Event, ProfileUpdate};

use crate::{
    db::{
        events::{self, EventRecord},
        users, Db,
    },
    domain::{siwe::SiwePolicy, token::Keys},
    error::{AppError, AppResult},
    jwt::JwtKeys,
    mail::Mailer,
};

/// Unix milliseconds, the unit every stored time uses.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The inverse of [`unix_ms`]; out-of-range values clamp to the epoch.
pub fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn now_ms() -> i64 {
    unix_ms(OffsetDateTime::now_utc())
}

/// Where a request came from, kept with sessions and security events.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// How this server presents itself in messages and links.
#[derive(Debug, Clone)]
pub struct Identity {
    /// host[:port] of public_url: the domain messages must name.
    pub domain: String,
    /// The origin of public_url, without trailing slash.
    pub origin: String,
    pub statement: Option<String>,
}

pub struct Service {
    db: Db,
    policy: SiwePolicy,
    keys: Keys,
    session_ttl: Duration,
    /// How long after a signature a session may make sensitive changes.
    reauth_window: Duration,
    identity: Identity,
    mailer: Option<Mailer>,
    email_link_ttl: Duration,
    /// `email.wallet_attach`: a wallet may join an account by a link mailed to it.
    email_wallet_attach: bool,
    event_retention: Duration,
    jwt: JwtKeys,
    token_ttl: Duration,
    token_audiences: Vec<String>,
    /// Where signatures are recovered.
    cpu: cpu_pool::CpuPool,
    /// The metrics' table counts, reused between scrapes.
    gauges: crate::metrics::GaugeCache,
}

/// Kinds of security events, as stored and shown.
pub mod event_kind {
    pub const SIGN_IN: &str = "sign_in";
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    pub const SIGN_OUT: &str = "sign_out";
    pub const WALLET_LINKED: &str = "wallet_linked";
    pub const WALLET_LINK_FAILED: &str = "wallet_link_failed";
    pub const WALLET_UNLINKED: &str = "wallet_unlinked";
    pub const PRIMARY_WALLET_CHANGED: &str = "primary_wallet_changed";
    pub const SESSION_ENDED: &str = "session_ended";
    pub const SESSIONS_ENDED: &str = "sessions_ended";
    pub const EMAIL_CHANGED: &str = "email_changed";
    pub const EMAIL_VERIFIED: &str = "email_verified";
    pub const EMAIL_LINK_SENT: &str = "email_link_sent";
    pub const REAUTHENTICATED: &str = "reauthenticated";
    pub const REAUTHENTICATION_FAILED: &str = "reauthentication_failed";
}

pub struct ServiceConfig {
    pub policy: SiwePolicy,
    pub keys: Keys,
    pub session_ttl: Duration,
    pub reauth_window: Duration,
    pub identity: Identity,
    pub mailer: Option<Mailer>,
    pub email_link_ttl: Duration,
    pub email_wallet_attach: bool,
    pub event_retention: Duration,
    pub jwt: JwtKeys,
    pub token_ttl: Duration,
    /// Allowed `aud` values, the default first.
    pub token_audiences: Vec<String>,
    /// Threads for signature recovery.
    pub cpu: CpuPool,
}

/// The claims of a short-lived token.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub addr: String,
    pub wallets: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

impl Service {
    pub fn new(db: Db, config: ServiceConfig) -> Self {
        Self {
            db,
            policy: config.policy,
            keys: config.keys,
            session_ttl: config.session_ttl,
            reauth_window: config.reauth_window,
            identity: config.identity,
            mailer: config.mailer,
            email_link_ttl: config.email_link_ttl,
            email_wallet_attach: config.email_wallet_attach,
            event_retention: config.event_retention,
            jwt: config.jwt,
            token_ttl: config.token_ttl,
            token_audiences: config.token_audiences,
            cpu: config.cpu,
            gauges: crate::metrics::GaugeCache::default(),
        }
    }

    /// A signed JWT for another service: who is signed in, for `audience` (one of the allowed
    /// values; the first by default). Returns the token and its expiry (Unix seconds).
    pub fn issue_token(
        &self,
        current: &Authenticated,
        audience: Option<String>,
    ) -> AppResult<(String, i64)> {
        let aud = match audience {
            None => self.token_audiences.first().cloned().unwrap_or_default(),
            Some(aud) if self.token_audiences.contains(&aud) => aud,
            Some(_) => {
                return Err(AppError::new(
                    crate::error::ErrorCode::InvalidAudience,
                    format!(
                        "The audience must be one of {:?} (tokens.audiences).",
                        self.token_audiences
                    ),
                ))
            }
        };
        let iat = OffsetDateTime::now_utc().unix_timestamp();
        let exp = iat + self.token_ttl.whole_seconds();
        let claims = TokenClaims {
            sub: current.account.user.id.clone(),
            addr: current.session.address.clone(),
            wallets: current
                .account
                .wallets
                .iter()
                .map(|w| w.address.clone())
                .collect(),
            iat,
            exp,
            iss: self.identity.origin.clone(),
            aud,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        Ok((self.jwt.sign(&claims)?, exp))
    }

    /// The public keys that verify tokens, as a JWK Set.
    pub fn jwks(&self) -> AppResult<serde_json::Value> {
        self.jwt.jwks()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn email_enabled(&self) -> bool {
        self.mailer.is_some()
    }

    /// Updates the gauges counted from the database (at most every
    /// `metrics::GAUGE_MAX_AGE`), then renders all metrics.
    pub async fn metrics_text(&self) -> AppResult<String> {
        let (sessions, nonces) = self
            .gauges
            .get(|| self.db.read_blocking(|conn| Db::counts(conn, now_ms())))
            .await?;
        if let Some(m) = crate::metrics::metrics() {
            m.active_sessions.set(sessions);
            m.nonces.set(nonces);
        }
        Ok(crate::metrics::render())
    }

    /// Succeeds when the database answers.
    pub async fn check_health(&self) -> AppResult<()> {
        self.db.read(Db::ping)
    }

    /// Deletes expired nonces, sessions and email links, and events past their retention, a
    /// small batch per write so that requests queued behind it wait only a moment.
    pub async fn delete_expired(&self) -> AppResult<usize> {
        let retention = self.event_retention;
        let mut total = 0;
        loop {
            let deleted = self
                .db
                .write(move |conn| {
                    let now = OffsetDateTime::now_utc();
                    Db::delete_expired_batch(conn, unix_ms(now), unix_ms(now - retention))
                })
                .await?;
            if deleted == 0 {
                return Ok(total);
            }
            total += deleted;
        }
    }

    /// Sends an email if email is configured; a failure is the caller's to report or ignore.
    async fn send_email(&self, mail: PendingEmail) -> AppResult<()> {
        match &self.mailer {
            Some(mailer) => mailer.send(&mail.to, &mail.subject, mail.body).await,
            None => Ok(()),
        }
    }
}

/// An email to send once the transaction that asked for it has committed.
struct PendingEmail {
    to: String,
    subject: String,
    body: String,
}

/// Records a security event; the user is the address's owner when none is given.
fn record_event(
    conn: &Connection,
    kind: &str,
    user_id: Option<&str>,
    address: Option<&str>,
    client: &ClientInfo,
    detail: Option<&str>,
) -> AppResult<()> {
    let owner = match (user_id, address) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(address)) => users::find_wallet(conn, address)?.map(|w| w.user_id),
        (None, None) => None,
    };
    events::insert(
        conn,
        &EventRecord {
            id: 0,
            at: now_ms(),
            user_id: owner,
            kind: kind.to_string(),
            address: address.map(str::to_string),
            ip: client.ip.clone(),
            detail: detail.map(str::to_string),
        },
    )
}

/// Loads an account with its wallets.
fn load_account(conn: &Connection, user_id: &str) -> AppResult<Account> {
    let user = users::find_user(conn, user_id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("user {user_id} vanished")))?;
    let wallets = users::wallets_of(conn, user_id)?;
    Ok(Account { user, wallets })
}

pub type SharedService = Arc<Service>;
