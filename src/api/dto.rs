//! The JSON shapes of requests and responses, and their conversion from the service's and the
//! domain's types. Longer than 400 lines because each shape carries the doc comments and examples
//! that the OpenAPI document publishes; one file keeps the schemas' names unique at a glance.

use std::borrow::Cow;

use poem_openapi::{
    registry::MetaSchemaRef,
    types::{Example, ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
    Object,
};
use serde_json::Value;
use time::OffsetDateTime;

use crate::{
    clock::from_unix_ms,
    domain::{account, address::Address, device::Device, event::Event, id::SessionId, session},
    service::{Account, Challenge, NonceIssued},
};

/// A string field of a request. poem-openapi's `String` also takes JSON numbers and booleans
/// (`false` becomes "false"), which the schema says are refused; this type refuses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self(text.to_string())
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// A wallet linked to an account.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Wallet {
    /// EIP-55 checksummed address.
    pub address: String,
    /// The chain of the wallet's latest sign-in.
    pub chain_id: u64,
    pub linked_at: OffsetDateTime,
    /// When the wallet last signed in, if ever.
    #[oai(nullable)]
    pub last_sign_in_at: Option<OffsetDateTime>,
    /// The account's main wallet (exactly one per account).
    pub is_primary: bool,
    /// The wallet's ENS primary name (its reverse record, confirmed by the name's address),
    /// when the server resolves names and found one. Resolved in the background after a
    /// sign-in or link and cached, so it may be missing or stale for a while. Display only.
    #[oai(nullable)]
    pub ens_name: Option<String>,
    /// The ENS name's avatar, when it is an https URL.
    #[oai(nullable)]
    pub ens_avatar: Option<String>,
}

/// An account.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    /// Display name: the one set with PATCH /api/account, else the primary wallet's ENS name,
    /// else the short form of the first wallet's address.
    pub name: String,
    /// Contact email, if one was given.
    #[oai(nullable)]
    pub email: Option<String>,
    /// Whether the owner proved control of the email by opening a link sent to it.
    pub email_verified: bool,
    pub created_at: OffsetDateTime,
    pub wallets: Vec<Wallet>,
}

/// A signed-in session.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    /// The wallet that signed in.
    pub address: String,
    /// That wallet's ENS name, if known (see `Wallet.ensName`).
    #[oai(nullable)]
    pub ens_name: Option<String>,
    pub chain_id: u64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// When the session last proved a wallet signature (sign-in or re-authentication); null
    /// if it never did (opened by an emailed link). Unlinking or linking a wallet, changing the
    /// email and signing out everywhere need this within `session.reauth_window_secs`.
    #[oai(nullable)]
    pub authenticated_at: Option<OffsetDateTime>,
    /// Whether a smart-contract wallet (EIP-1271, or EIP-6492 before deployment) signed this
    /// session in, rather than a key. With `siwe.recheck_contract_sessions_secs` set, the
    /// contract is asked again at that interval and the session ends once it says no.
    pub contract_wallet: bool,
}

/// A nonce and the values a message must carry for this server to accept it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct NonceBody {
    /// Single-use; put it in the message's `Nonce:` line.
    pub nonce: String,
    /// The nonce cannot be used after this time.
    pub expires_at: OffsetDateTime,
    /// The value for the message's first line (`<domain> wants you to sign in...`).
    pub domain: String,
    /// The value for `URI:`.
    pub uri: String,
    /// The value for `Version:`.
    pub version: String,
    /// Chains accepted in `Chain ID:`; empty means any chain.
    pub chain_ids: Vec<u64>,
    /// A suggested statement line, or null when none is configured.
    #[oai(nullable)]
    pub statement: Option<String>,
}

/// A signed EIP-4361 message.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignedMessage {
    /// The exact message text that was signed (lines separated by `\n`, no trailing newline).
    pub message: Text,
    /// The EIP-191 `personal_sign` signature as hex, `0x` optional: 65 bytes for a key's; a
    /// smart-contract wallet's (EIP-1271, or EIP-6492 for one not deployed yet) may be longer,
    /// up to `siwe.max_signature_bytes` bytes (8192 by default, 65536 at most), and is checked
    /// with the wallet contract on the message's chain.
    #[oai(validator(max_length = 131074))]
    pub signature: Text,
}

/// A signed EIP-4361 message, and what to do with a wallet that has no account yet.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct VerifyRequest {
    /// The exact message text that was signed (lines separated by `\n`, no trailing newline).
    pub message: Text,
    /// The EIP-191 `personal_sign` signature as hex, `0x` optional: 65 bytes for a key's; a
    /// smart-contract wallet's (EIP-1271, or EIP-6492 for one not deployed yet) may be longer,
    /// up to `siwe.max_signature_bytes` bytes (8192 by default, 65536 at most), and is checked
    /// with the wallet contract on the message's chain.
    #[oai(validator(max_length = 131074))]
    pub signature: Text,
    /// With a valid session (cookie + CSRF token, or bearer): attach this wallet to the
    /// signed-in account instead of signing in to the wallet's own. Only a link challenge of
    /// that account for this wallet (POST /api/wallets/challenge) can do this.
    #[oai(nullable)]
    pub link: Option<bool>,
    /// For a wallet without an account: create the account with this email, pending until
    /// verified (naming an address reserves nothing and reveals nothing). When the message
    /// comes from `POST /api/auth/challenge` with this `email` (its nonce bound to the email
    /// and the wallet), nothing is created or signed in: if an account has verified the
    /// address, a link that adds the wallet to it is mailed there; the answer is 202 either way.
    #[oai(nullable)]
    pub email: Option<Text>,
}

/// The wallet was not signed in: a link was emailed to the account that owns the email.
#[derive(Debug, Clone, Object)]
pub struct EmailSentBody {
    /// `email_verification_sent`
    pub status: String,
    pub message: String,
}

/// An active session of the account.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    /// The wallet that signed in.
    pub address: String,
    /// That wallet's ENS name, if known (see `Wallet.ensName`).
    #[oai(nullable)]
    pub ens_name: Option<String>,
    pub chain_id: u64,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The `User-Agent` the session was opened with (its first 512 bytes), as the client sent it.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// The browser and operating system `userAgent` names, for showing the session to a person.
    pub device: DeviceInfo,
    /// The session making this request.
    pub current: bool,
    /// Whether a smart-contract wallet, not a key, signed this session in (as `Session`'s
    /// `contractWallet` says).
    pub contract_wallet: bool,
}

/// The browser and operating system a user agent names, in the words people use ("Firefox",
/// "macOS"). Each is null when the user agent does not say or is unknown; each is at most 32
/// characters of `[A-Za-z0-9 ._()-]`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct DeviceInfo {
    /// The browser, e.g. "Firefox", "Chrome", "Safari", "Edge", "MetaMask" (a wallet's in-app
    /// browser), "curl".
    #[oai(nullable)]
    pub browser: Option<String>,
    /// The operating system: "macOS", "iOS", "Android", "Windows", "Linux", "ChromeOS" or another.
    #[oai(nullable)]
    pub os: Option<String>,
}

impl DeviceInfo {
    /// What `user_agent` names; both null without one.
    pub fn of_user_agent(user_agent: Option<&str>) -> Self {
        let Device { browser, os } = user_agent.map(Device::from_user_agent).unwrap_or_default();
        Self { browser, os }
    }
}

impl Example for DeviceInfo {
    fn example() -> Self {
        Self {
            browser: Some("Firefox".into()),
            os: Some("macOS".into()),
        }
    }
}

/// Ask for a server-built message for `address`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ChallengeRequest {
    /// The wallet: 0x and 40 hex digits.
    pub address: Text,
    /// The chain to name in the message; default: the first allowed chain, else 1.
    #[oai(nullable)]
    pub chain_id: Option<u64>,
}

/// Ask for a server-built message for `address`: a sign-in message, or with `email`, one that
/// asks to add the wallet to the account that has verified that email.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct SignInChallengeRequest {
    /// The wallet: 0x and 40 hex digits.
    pub address: Text,
    /// The chain to name in the message; default: the first allowed chain, else 1.
    #[oai(nullable)]
    pub chain_id: Option<u64>,
    /// Ask to add this wallet to the account that has verified this email, through a link
    /// mailed there (only when the server has `email.wallet_attach` on). The message's nonce
    /// is bound to this email and this address; sign it and send it to verify with the same
    /// `email`.
    #[oai(nullable)]
    pub email: Option<Text>,
}

/// The exact text to sign with the wallet (personal_sign), then send with its signature.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ChallengeBody {
    pub message: String,
    pub nonce: String,
    pub expires_at: OffsetDateTime,
}

/// Which wallet signs a re-authentication challenge.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ReauthChallengeRequest {
    /// One of the account's wallets; default: the one this session signed in with.
    #[oai(nullable)]
    pub address: Option<Text>,
}

/// Profile changes; fields left out stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ProfileRequest {
    /// Display name, 1 to 64 characters.
    #[oai(nullable)]
    pub name: Option<Text>,
    /// Contact email; null or "" removes it. A new email is unverified until its link is opened.
    #[oai(nullable)]
    pub email: poem_openapi::types::MaybeUndefined<Text>,
}

/// A security event on the account.
#[derive(Debug, Clone, Object)]
pub struct EventBody {
    pub id: i64,
    pub at: OffsetDateTime,
    /// `sign_in`, `sign_in_failed`, `sign_out`, `wallet_linked`, `wallet_link_failed`,
    /// `wallet_unlinked`, `primary_wallet_changed`, `session_ended`, `sessions_ended`,
    /// `email_changed`, `email_verified`, `email_link_sent`, `reauthenticated`,
    /// `reauthentication_failed`, `oidc_consent_granted`, `oidc_app_revoked`,
    /// `oidc_code_replay`, `oidc_refresh_reuse` (for those three the detail is the client id),
    /// `contract_session_ended` (a re-check found that the wallet contract no longer accepts the
    /// session's signature; the detail is `chain <id>`), `pairing_approved` (a wallet of the
    /// account approved a sign-in on another device; the detail names that device and its IP).
    pub kind: String,
    #[oai(nullable)]
    pub address: Option<String>,
    /// The ENS name of that address while it is one of the account's wallets (see
    /// `Wallet.ensName`).
    #[oai(nullable, rename = "ensName")]
    pub ens_name: Option<String>,
    #[oai(nullable)]
    pub ip: Option<String>,
    /// The reason of a refusal (an error code), or other detail.
    #[oai(nullable)]
    pub detail: Option<String>,
}

/// An OpenID Connect app the account has let in.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct ConnectedAppBody {
    pub client_id: String,
    /// The app's name (its client id once it is no longer registered).
    pub name: String,
    /// What it was allowed: `openid`, `profile`, `email`, `wallets`, `offline_access`.
    pub scopes: Vec<String>,
    /// The latest consent or sign-in through it.
    pub granted_at: OffsetDateTime,
    /// Whether it holds a working refresh token (it can renew its access without you).
    pub has_refresh_token: bool,
}

impl From<&crate::oidc::apps::ConnectedApp> for ConnectedAppBody {
    fn from(app: &crate::oidc::apps::ConnectedApp) -> Self {
        Self {
            client_id: app.client_id.clone(),
            name: app.name.clone(),
            scopes: app.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            granted_at: from_unix_ms(app.granted_at),
            has_refresh_token: app.has_refresh_token,
        }
    }
}

/// The result of a sign-in.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SignInBody {
    pub user: User,
    pub session: Session,
    /// Send as `X-CSRF-Token` on state-changing requests authenticated by the cookie.
    pub csrf_token: String,
    /// Whether this sign-in created the account.
    pub created: bool,
    /// The session token, for `Authorization: Bearer` from non-browser clients. Keep it secret.
    pub token: String,
}

/// The current session.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionBody {
    pub user: User,
    pub session: Session,
    pub csrf_token: String,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct CsrfBody {
    pub csrf_token: String,
}

#[derive(Debug, Clone, Object)]
pub struct HealthBody {
    /// `ok` when the database answers.
    pub status: String,
    /// The server's version (as `siwe-server --version` prints it).
    pub version: String,
}

impl From<&account::Wallet> for Wallet {
    fn from(w: &account::Wallet) -> Self {
        Self {
            address: w.address.to_string(),
            chain_id: w.chain_id,
            linked_at: from_unix_ms(w.linked_at),
            last_sign_in_at: w.last_sign_in_at.map(from_unix_ms),
            is_primary: w.is_primary,
            ens_name: w.ens.as_ref().map(|e| e.name.clone()),
            ens_avatar: w.ens.as_ref().and_then(|e| e.avatar.clone()),
        }
    }
}

/// The cached ENS name of one of the account's wallets.
fn ens_name_of(account: &Account, address: &Address) -> Option<String> {
    let wallet = account.wallets.iter().find(|w| w.address == *address)?;
    wallet.ens.as_ref().map(|e| e.name.clone())
}

impl From<&Account> for User {
    fn from(a: &Account) -> Self {
        Self {
            id: a.user.id.to_string(),
            name: a.display_name(),
            email: a.user.email.clone(),
            email_verified: a.user.email_verified,
            created_at: from_unix_ms(a.user.created_at),
            wallets: a.wallets.iter().map(Wallet::from).collect(),
        }
    }
}

impl Session {
    /// A session of `account`.
    pub fn new(s: &session::Session, account: &Account) -> Self {
        Self {
            id: s.id.to_string(),
            address: s.address.to_string(),
            ens_name: ens_name_of(account, &s.address),
            chain_id: s.chain_id,
            created_at: from_unix_ms(s.created_at),
            expires_at: from_unix_ms(s.expires_at),
            authenticated_at: s.authenticated_at.map(from_unix_ms),
            contract_wallet: s.contract_wallet,
        }
    }
}

impl From<NonceIssued> for NonceBody {
    fn from(n: NonceIssued) -> Self {
        Self {
            nonce: n.nonce,
            expires_at: from_unix_ms(n.expires_at),
            domain: n.domain,
            uri: n.uri,
            version: "1".into(),
            chain_ids: n.chain_ids,
            statement: n.statement,
        }
    }
}

impl SessionInfo {
    pub fn new(s: &session::Session, current_id: &SessionId, account: &Account) -> Self {
        Self {
            id: s.id.to_string(),
            address: s.address.to_string(),
            ens_name: ens_name_of(account, &s.address),
            chain_id: s.chain_id,
            created_at: from_unix_ms(s.created_at),
            last_seen_at: from_unix_ms(s.last_seen_at),
            expires_at: from_unix_ms(s.expires_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            device: DeviceInfo::of_user_agent(s.user_agent.as_deref()),
            current: s.id == *current_id,
            contract_wallet: s.contract_wallet,
        }
    }
}

impl EventBody {
    /// An event of `account`.
    pub fn new(e: &Event, account: &Account) -> Self {
        Self {
            id: e.id,
            at: from_unix_ms(e.at),
            kind: e.kind.as_str().to_string(),
            address: e.address.map(|a| a.to_string()),
            ens_name: e.address.and_then(|a| ens_name_of(account, &a)),
            ip: e.ip.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// What the built-in pages need to know about this server.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct UiConfigBody {
    pub app_name: String,
    #[oai(nullable)]
    pub logo_url: Option<String>,
    /// #rrggbb
    pub accent_color: String,
    /// Chains accepted; empty means any.
    pub chain_ids: Vec<u64>,
    /// Other origins `?next=` may send people to after sign-in (`cors.allowed_origins`).
    pub redirect_origins: Vec<String>,
    /// Whether the server can send email (verification links).
    pub email_enabled: bool,
    /// Whether signing in from another device (a phone's wallet) is offered (`pairing.enabled`).
    pub pairing: bool,
}

/// Ask for a short-lived token for another service.
#[derive(Debug, Clone, Object)]
pub struct TokenRequest {
    /// The `aud` claim: one of `tokens.audiences` (default: the first; without configuration,
    /// this server's origin).
    #[oai(nullable)]
    pub audience: Option<Text>,
}

/// A signed JWT (EdDSA) with `sub` (account id), `addr` (session wallet), `wallets`, `iat`,
/// `exp`, `iss` (this server's origin), `aud` and `jti`. Verify it with the keys at
/// `/.well-known/jwks.json`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct TokenBody {
    pub token: String,
    pub expires_at: OffsetDateTime,
}

/// A public key: Ed25519 (`kty` OKP, RFC 8037: `crv`, `x`; `alg` EdDSA) or RSA (`kty` RSA,
/// RFC 7518: `n`, `e`; `alg` RS256).
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct Jwk {
    pub kty: String,
    /// OKP: the curve, `Ed25519`.
    #[oai(skip_serializing_if_is_none)]
    pub crv: Option<String>,
    /// OKP: the public key, base64url.
    #[oai(skip_serializing_if_is_none)]
    pub x: Option<String>,
    /// RSA: the modulus, base64url (big-endian).
    #[oai(skip_serializing_if_is_none)]
    pub n: Option<String>,
    /// RSA: the public exponent, base64url (big-endian).
    #[oai(skip_serializing_if_is_none)]
    pub e: Option<String>,
    pub kid: String,
    pub alg: String,
    #[oai(rename = "use")]
    #[serde(rename = "use")]
    pub use_: String,
}

/// The keys that verify this server's tokens (RFC 7517).
#[derive(Debug, Clone, Object, serde::Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

const EXAMPLE_ADDRESS: &str = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2";

fn example_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Example for NonceBody {
    fn example() -> Self {
        Self {
            nonce: "0jLmQ3Vbg5VuQVxffzjzK2mXqXyU7bQ4nT8pLdWe1R".into(),
            expires_at: example_time(),
            domain: "login.example.org".into(),
            uri: "https://login.example.org".into(),
            version: "1".into(),
            chain_ids: vec![1],
            statement: Some("Sign in with Ethereum to this server.".into()),
        }
    }
}

impl Example for VerifyRequest {
    fn example() -> Self {
        Self {
            message: Text(format!(
                "login.example.org wants you to sign in with your Ethereum account:\n{EXAMPLE_ADDRESS}\n\n\
                 Sign in with Ethereum to this server.\n\nURI: https://login.example.org\nVersion: 1\n\
                 Chain ID: 1\nNonce: 0jLmQ3Vbg5VuQVxffzjzK2mXqXyU7bQ4nT8pLdWe1R\nIssued At: 2026-11-18T08:13:20.000Z"
            )),
            signature: Text(format!("0x{}1b", "ab".repeat(64))),
            link: None,
            email: None,
        }
    }
}

impl Example for ChallengeRequest {
    fn example() -> Self {
        Self {
            address: EXAMPLE_ADDRESS.into(),
            chain_id: Some(1),
        }
    }
}

impl Example for SignInChallengeRequest {
    fn example() -> Self {
        Self {
            address: EXAMPLE_ADDRESS.into(),
            chain_id: Some(1),
            email: None,
        }
    }
}

impl Example for ReauthChallengeRequest {
    fn example() -> Self {
        Self {
            address: Some(EXAMPLE_ADDRESS.into()),
        }
    }
}

impl From<Challenge> for ChallengeBody {
    fn from(c: Challenge) -> Self {
        Self {
            message: c.message,
            nonce: c.nonce,
            expires_at: from_unix_ms(c.expires_at),
        }
    }
}

/// The answer of both challenge endpoints (sign-in and wallet linking).
#[derive(poem_openapi::ApiResponse)]
pub enum ChallengeResponse {
    /// The message to sign with the wallet.
    #[oai(status = 200)]
    Ok(poem_openapi::payload::Json<ChallengeBody>),
}
