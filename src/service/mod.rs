//! What the product does, in its own words: issue nonces, sign people in, link and unlink
//! wallets, keep profiles, list and end sessions, record security events. Knows nothing of HTTP.
//! One file per capability; this one holds only the `Service` itself and how it is built.

// Where each rule lives, by what a person does:
/// The account: a user and their wallets, its profile (name, email).
mod account;
/// Every signed message's path: challenge, check, spend the nonce once, then the caller's write.
mod checked_message;
/// Signatures a wallet contract judges (EIP-1271/6492): nonce spent, chain asked, then the write.
mod contract_check;
/// Sessions opened by wallet contracts: their kept signatures, checked again on a timer.
mod contract_sessions;
/// The threads that recover signers.
mod cpu_pool;
/// Email addresses, verification links and security notices.
mod email;
/// Adding a wallet to an account through its verified mailbox.
mod email_attach;
/// The account's security log.
mod events;
/// Wallets' ENS names: the background resolver and its queue.
mod names;
/// Opening, finding, listing and ending sessions; CSRF tokens.
mod sessions;
/// Signing in: nonces, the sign-in challenge, which account a signature signs in to.
mod sign_in;
/// Nonces and emailed links are spent whatever the outcome.
mod single_use;
/// Sensitive changes need a recent signature (re-authentication).
mod sudo;
/// Short-lived JWTs for other services.
mod tokens;
/// Health, metrics and deleting what has expired.
mod upkeep;
/// Linking and unlinking wallets; whether a wallet may join an account; the primary wallet.
mod wallets;

use std::sync::Arc;

use time::Duration;

pub use account::{Account, ProfileUpdate};
pub use checked_message::{Challenge, CheckedMessage, Refused, SignedMessage};
pub use contract_sessions::RecheckReport;
pub use cpu_pool::CpuPool;
pub use email::EmailLinkPreview;
pub use sessions::Authenticated;
pub use sign_in::{NonceIssued, SignIn, SignInOutcome, SignInRequest};
pub use tokens::TokenClaims;

pub use account::load_account;
use account::new_row_id;
use email::PendingEmail;
pub use events::record_event;

use crate::{
    chains::Chains,
    clock::Clock,
    db::Db,
    domain::{siwe::SiwePolicy, token::Keys},
    keys::JwtKeys,
    mail::Mailer,
};

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

/// The product's capabilities, one `impl` block per file of this folder; shared by all
/// requests.
pub struct Service {
    db: Db,
    /// Where every "now" of the service comes from.
    clock: Clock,
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
    /// The RPC endpoints that check contract wallets' signatures and resolve ENS names.
    chains: Arc<Chains>,
    /// Wallets waiting for their ENS name.
    names: names::Names,
    /// The metrics' table counts, reused between scrapes.
    gauges: crate::metrics::GaugeCache,
}

/// What [`Service::new`] needs, taken from the settings at start-up.
pub struct ServiceConfig {
    pub clock: Clock,
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
    pub chains: Arc<Chains>,
    /// Where wallets' ENS names are resolved; None resolves none.
    pub ens: Option<crate::config::Ens>,
}

impl Service {
    /// The service over `db`, configured once at start-up.
    pub fn new(db: Db, config: ServiceConfig) -> Self {
        Self {
            db,
            clock: config.clock,
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
            chains: config.chains,
            names: names::Names::new(config.ens),
            gauges: crate::metrics::GaugeCache::default(),
        }
    }

    /// The database, for tests and benchmarks.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The clock the service reads the time from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The keys that MAC tokens, codes and secrets before they are stored.
    pub fn mac_keys(&self) -> &Keys {
        &self.keys
    }

    /// The chains' RPC endpoints.
    pub fn chains(&self) -> &Chains {
        &self.chains
    }

    /// The keys that sign JWTs.
    pub fn jwt_keys(&self) -> &JwtKeys {
        &self.jwt
    }

    /// Now, in the Unix milliseconds every stored time uses.
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether this server sends email.
    pub fn email_enabled(&self) -> bool {
        self.mailer.is_some()
    }

    /// The SMTP client, for a reload of `[email]` (its clones share what it sends through).
    pub fn mailer(&self) -> Option<&Mailer> {
        self.mailer.as_ref()
    }
}

/// The service as requests hold it.
pub type SharedService = Arc<Service>;
