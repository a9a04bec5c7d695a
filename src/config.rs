//! Settings: defaults -> config.toml -> `SIWE_<SECTION>__<KEY>` environment variables, validated once.

use std::{
    collections::BTreeSet,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// The environment variable naming the config file (the `--config` flag wins over it).
pub const CONFIG_ENV: &str = "SIWE_CONFIG";
const ENV_PREFIX: &str = "SIWE_";

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub siwe: SiweSettings,
    pub session: SessionSettings,
    pub security: SecuritySettings,
    pub rate_limit: RateLimitSettings,
    pub cors: CorsSettings,
    pub email: EmailSettings,
    pub audit: AuditSettings,
    pub ui: UiSettings,
    pub forward_auth: ForwardAuthSettings,
    pub tokens: TokenSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: String,
    /// The URL people use to reach this server; the default domain and URI a message must name.
    pub public_url: String,
    /// Reverse proxies (CIDRs) whose X-Forwarded-For / Forwarded headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Most connections open at once; more clients wait until one closes.
    pub max_connections: usize,
    /// Most connections open at once from one client address (IPv6: one /64); unset: a quarter
    /// of max_connections. Trusted proxies are exempt.
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a client has to send a request's headers (from connecting, or from its first
    /// byte on a kept-alive connection).
    pub header_timeout_secs: u64,
    /// Seconds a kept-alive connection may stay idle between requests.
    pub keep_alive_timeout_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://localhost:8080".into(),
            trusted_proxies: Vec::new(),
            max_connections: 4096,
            max_connections_per_ip: None,
            header_timeout_secs: 10,
            keep_alive_timeout_secs: 75,
        }
    }
}

/// Per-client-IP limits; a per-minute value of 0 turns that policy off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// nonce, verify and wallet-link requests.
    pub auth_per_minute: u32,
    pub auth_burst: u32,
    /// Every other API request (session checks and the like).
    pub read_per_minute: u32,
    pub read_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            auth_per_minute: 30,
            auth_burst: 10,
            read_per_minute: 600,
            read_burst: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CorsSettings {
    /// Origins (scheme://host[:port]) allowed to call the API with credentials; empty allows
    /// only the server's own origin.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    pub pool_size: u32,
    pub cleanup_interval_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("data/siwe-server.db"),
            pool_size: 8,
            cleanup_interval_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiweSettings {
    /// Extra domains (host[:port]) a message may name, besides public_url's.
    pub domains: Vec<String>,
    /// Extra URI origins a message's URI may have, besides public_url's.
    pub uris: Vec<String>,
    /// Allowed chain ids; empty allows any chain.
    pub chain_ids: Vec<u64>,
    pub statement: Option<String>,
    pub nonce_ttl_secs: u64,
    pub clock_skew_secs: u64,
}

impl Default for SiweSettings {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            uris: Vec::new(),
            chain_ids: Vec::new(),
            statement: Some("Sign in with Ethereum to this server.".into()),
            nonce_ttl_secs: 300,
            clock_skew_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

/// `session.secure`: "auto" (on when public_url is https), true or false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureCookie {
    Auto,
    Always,
    Never,
}

impl Serialize for SecureCookie {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::Always => s.serialize_bool(true),
            Self::Never => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for SecureCookie {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Self::Always),
            Raw::Bool(false) => Ok(Self::Never),
            Raw::Text(t) => match t.to_ascii_lowercase().as_str() {
                "auto" => Ok(Self::Auto),
                "true" => Ok(Self::Always),
                "false" => Ok(Self::Never),
                _ => Err(serde::de::Error::custom("expected \"auto\", true or false")),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    pub cookie_name: String,
    pub same_site: SameSite,
    pub secure: SecureCookie,
    /// Cookie Domain attribute, e.g. ".example.org" to share with subdomains; unset = host-only.
    pub domain: Option<String>,
    pub ttl_secs: u64,
    /// How long after a signature a session may make sensitive changes (unlink or link a wallet,
    /// change the email, sign out everywhere) without signing again.
    pub reauth_window_secs: u64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            cookie_name: "siwe_session".into(),
            same_site: SameSite::Lax,
            secure: SecureCookie::Auto,
            domain: None,
            ttl_secs: 86_400,
            reauth_window_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Key for session-token MACs and CSRF tokens; generated into the data folder when unset.
    pub secret: Option<Secret>,
    /// Extra CSP `frame-src` sources for the pages (e.g. a WalletConnect modal's origin).
    pub csp_frame_src: Vec<String>,
    /// Extra CSP `connect-src` sources for the pages (e.g. wss://relay.walletconnect.com).
    pub csp_connect_src: Vec<String>,
    /// Who may frame the pages (CSP `frame-ancestors`); empty means nobody.
    pub csp_frame_ancestors: Vec<String>,
}

/// A secret string that never prints.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How to reach the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the start (port 465).
    Tls,
    /// No encryption: only for a relay on the same host.
    None,
}

/// Outgoing email; off unless `smtp_host` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    /// The From header, e.g. "Sign-in <login@example.org>".
    pub from: String,
    /// How long links sent by email work, in seconds.
    pub link_ttl_secs: u64,
    /// Let a new wallet join an account through a link mailed to the account's verified
    /// address: account recovery by mailbox, off by default.
    pub wallet_attach: bool,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            from: "siwe-server <noreply@localhost>".into(),
            link_ttl_secs: 3600,
            wallet_attach: false,
        }
    }
}

/// Prometheus metrics at `/metrics`: on their own listener (`bind`), or on the main one with a
/// bearer token (`token`); with neither, not served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// Serve `/metrics` on this address (e.g. 127.0.0.1:9100), to whoever can reach it.
    pub bind: Option<String>,
    /// Serve `/metrics` on the main listener to requests with `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: None,
            token: None,
        }
    }
}

/// Short-lived JWTs for other services (`POST /api/auth/token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub ttl_secs: u64,
    /// Allowed `aud` values; the first is the default. Empty: only public_url's origin.
    pub audiences: Vec<String>,
    /// How long a rotated-in key is published before it signs (JWKS caches must learn it).
    pub key_publish_secs: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 300,
            audiences: Vec::new(),
            key_publish_secs: 900,
        }
    }
}

/// Forward-auth for reverse proxies (`GET /api/auth/forward`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthSettings {
    /// Origins of the apps behind the proxy: signed-out browsers are sent to the login page and
    /// back to these after signing in.
    pub origins: Vec<String>,
    /// Per-host allow-lists of addresses; hosts without a rule admit every signed-in wallet.
    pub rules: Vec<ForwardAuthRule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardAuthRule {
    pub host: String,
    pub addresses: Vec<String>,
}

/// Branding of the built-in pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// The name shown on the pages ("Sign in to <app_name>").
    pub app_name: String,
    /// An https (or same-origin path) URL of a logo image; none when unset.
    pub logo_url: Option<String>,
    /// The accent colour of buttons and links, as #rrggbb.
    pub accent_color: String,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            app_name: "siwe-server".into(),
            logo_url: None,
            accent_color: "#3b4cca".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Days security events are kept.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A tracing filter, e.g. "info" or "siwe_server=debug,info". RUST_LOG wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Pretty,
        }
    }
}

/// Settings plus what loading them noticed (written to the log once logging is set up).
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

impl Settings {
    /// Loads defaults, then the config file (if given or named by SIWE_CONFIG), then SIWE_* variables.
    pub fn load(config_path: Option<&Path>) -> anyhow::Result<Loaded> {
        let env_path = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
        let path = config_path.map(Path::to_path_buf).or(env_path);
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = &path {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let known = known_keys();
        let mut warnings = Vec::new();
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if name == CONFIG_ENV {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if !known.contains(&key) {
                warnings.push(format!(
                    "ignoring environment variable {name}: there is no setting `{key}` \
                     (variables look like SIWE_SECTION__KEY, e.g. SIWE_SERVER__BIND)"
                ));
            }
        }
        let env = Env::prefixed(ENV_PREFIX)
            .split("__")
            .filter(move |key| known.contains(&key.as_str().to_ascii_lowercase()));
        let settings: Settings = figment
            .merge(env)
            .extract()
            .map_err(|e| anyhow::anyhow!(describe_figment_error(e)))?;
        settings.validate()?;
        Ok(Loaded { settings, warnings })
    }

    /// Checks everything that can be checked without touching the disk or network.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.bind_addr()?;
        let public = self.public_url()?;
        for domain in &self.siwe.domains {
            if domain.is_empty() || domain.contains("://") || domain.contains('/') {
                bail!(
                    "siwe.domains: {domain:?} must be a host or host:port, without scheme or path"
                );
            }
        }
        for uri in &self.siwe.uris {
            let parsed = Url::parse(uri).with_context(|| {
                format!("siwe.uris: {uri:?} is not an absolute URL such as https://app.example.org")
            })?;
            if parsed.host().is_none() {
                bail!("siwe.uris: {uri:?} has no host");
            }
        }
        if let Some(statement) = &self.siwe.statement {
            if !crate::domain::siwe::is_valid_statement(statement) {
                bail!(
                    "siwe.statement must be one line of letters, digits, spaces and URI \
                     punctuation (EIP-4361 allows no other characters)"
                );
            }
        }
        if self.siwe.nonce_ttl_secs == 0 {
            bail!("siwe.nonce_ttl_secs must be at least 1");
        }
        if self.session.ttl_secs == 0 {
            bail!("session.ttl_secs must be at least 1");
        }
        if self.session.reauth_window_secs == 0 {
            bail!("session.reauth_window_secs must be at least 1");
        }
        let name = &self.session.cookie_name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            bail!("session.cookie_name {name:?} may only use letters, digits, '-', '_' and '.'");
        }
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("__host-") || lower.starts_with("__secure-") {
            bail!(
                "session.cookie_name {name:?} must not carry a cookie prefix: the server adds \
                 __Host- itself when the cookie is Secure and session.domain is unset"
            );
        }
        if self.session.same_site == SameSite::None && !self.cookie_secure_with(&public) {
            bail!(
                "session.same_site = \"none\" needs Secure cookies: browsers drop SameSite=None \
                 cookies without Secure. Serve over https (server.public_url = \"https://...\") \
                 and keep session.secure = \"auto\" or true. In-wallet browsers need \
                 SameSite=None; Secure when your app and this server are on different sites."
            );
        }
        if let Some(domain) = &self.session.domain {
            let bare = domain.trim_start_matches('.');
            if bare.is_empty() || bare.contains(['/', ':', ' ', ';']) {
                bail!("session.domain {domain:?} must be a domain such as .example.org");
            }
        }
        if let Some(secret) = &self.security.secret {
            if secret.expose().len() < 32 {
                bail!("security.secret must be at least 32 characters (or leave it unset to generate one)");
            }
        }
        for cidr in &self.server.trusted_proxies {
            parse_cidr(cidr)?;
        }
        for origin in &self.cors.allowed_origins {
            parse_origin(origin).with_context(|| format!("cors.allowed_origins: {origin:?}"))?;
        }
        let rl = &self.rate_limit;
        if (rl.auth_per_minute > 0 && rl.auth_burst == 0)
            || (rl.read_per_minute > 0 && rl.read_burst == 0)
        {
            bail!("rate_limit.auth_burst and rate_limit.read_burst must be at least 1 while their policy is on");
        }
        for (key, sources) in [
            ("security.csp_frame_src", &self.security.csp_frame_src),
            ("security.csp_connect_src", &self.security.csp_connect_src),
            (
                "security.csp_frame_ancestors",
                &self.security.csp_frame_ancestors,
            ),
        ] {
            for source in sources {
                if source.is_empty()
                    || source.contains([';', ',', '\'', '"'])
                    || source.contains(char::is_whitespace)
                {
                    bail!("{key}: {source:?} must be one CSP source such as https://verify.walletconnect.com");
                }
            }
        }
        if self.email.smtp_host.is_some() {
            self.email
                .from
                .parse::<lettre::message::Mailbox>()
                .with_context(|| format!("email.from {:?} must be an address such as \"Sign-in <login@example.org>\"", self.email.from))?;
            if self.email.smtp_username.is_some() != self.email.smtp_password.is_some() {
                bail!("email.smtp_username and email.smtp_password go together");
            }
        }
        if self.email.link_ttl_secs == 0 {
            bail!("email.link_ttl_secs must be at least 1");
        }
        for origin in &self.forward_auth.origins {
            parse_origin(origin).with_context(|| format!("forward_auth.origins: {origin:?}"))?;
        }
        for rule in &self.forward_auth.rules {
            if crate::domain::forward_auth::ProtectedHost::parse_rule(&rule.host).is_none() {
                bail!(
                    "forward_auth.rules: host {:?} must be a host name such as admin.example.org \
                     (optionally with a port)",
                    rule.host
                );
            }
            for address in &rule.addresses {
                crate::domain::siwe::parse_address(address).map_err(|_| {
                    anyhow::anyhow!(
                        "forward_auth.rules ({}): {address:?} is not an address",
                        rule.host
                    )
                })?;
            }
        }
        if let Some(token) = &self.metrics.token {
            let token = token.expose();
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                bail!("metrics.token must be at least 16 printable characters without spaces");
            }
        }
        if let Some(bind) = &self.metrics.bind {
            bind.parse::<SocketAddr>().with_context(|| {
                format!("metrics.bind {bind:?} must be an address and port such as 127.0.0.1:9100")
            })?;
        }
        if self.tokens.ttl_secs == 0 {
            bail!("tokens.ttl_secs must be at least 1");
        }
        if self.tokens.audiences.iter().any(|a| a.trim().is_empty()) {
            bail!("tokens.audiences may not contain empty values");
        }
        let ui = &self.ui;
        if ui.app_name.trim().is_empty()
            || ui.app_name.chars().count() > 64
            || ui.app_name.chars().any(char::is_control)
        {
            bail!("ui.app_name must be 1 to 64 characters");
        }
        let hex_colour = ui.accent_color.len() == 7
            && ui.accent_color.starts_with('#')
            && ui.accent_color[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !hex_colour {
            bail!(
                "ui.accent_color {:?} must be a colour such as #3b4cca",
                ui.accent_color
            );
        }
        if let Some(logo) = &ui.logo_url {
            let same_origin_path = logo.starts_with('/') && !logo.starts_with("//");
            if !(same_origin_path || logo.starts_with("https://"))
                || logo.contains(['"', '\'', '<', '>', ' '])
            {
                bail!("ui.logo_url {logo:?} must be an https:// URL or a path on this server");
            }
        }
        if self.audit.retention_days == 0 {
            bail!("audit.retention_days must be at least 1");
        }
        if self.server.max_connections == 0 {
            bail!("server.max_connections must be at least 1");
        }
        if self.server.max_connections_per_ip == Some(0) {
            bail!("server.max_connections_per_ip must be at least 1 (or unset)");
        }
        if self.server.header_timeout_secs == 0 {
            bail!("server.header_timeout_secs must be at least 1");
        }
        if self.server.keep_alive_timeout_secs == 0 {
            bail!("server.keep_alive_timeout_secs must be at least 1");
        }
        if self.database.pool_size == 0 {
            bail!("database.pool_size must be at least 1");
        }
        if self.database.cleanup_interval_secs == 0 {
            bail!("database.cleanup_interval_secs must be at least 1");
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .with_context(|| format!("log.level {:?} is not a valid filter", self.log.level))?;
        Ok(())
    }

    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.bind.parse().with_context(|| {
            format!(
                "server.bind {:?} must be an address and port such as 127.0.0.1:8080",
                self.server.bind
            )
        })
    }

    pub fn public_url(&self) -> anyhow::Result<Url> {
        let raw = &self.server.public_url;
        let url = Url::parse(raw).with_context(|| {
            format!("server.public_url {raw:?} must be a URL such as https://login.example.org")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            bail!("server.public_url {raw:?} must be an http or https URL with a host");
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            bail!("server.public_url {raw:?} must be an origin only (no path, query or fragment)");
        }
        Ok(url)
    }

    /// Origins allowed to make credentialed requests: public_url's plus `cors.allowed_origins`.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self
            .public_url()
            .map(|u| vec![u.origin().ascii_serialization()])
            .unwrap_or_default();
        for origin in &self.cors.allowed_origins {
            if let Ok(o) = parse_origin(origin) {
                if !origins.contains(&o) {
                    origins.push(o);
                }
            }
        }
        origins
    }

    /// Origins the login page may send people to after sign-in: CORS origins and forward-auth
    /// origins.
    pub fn return_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self.allowed_origins().into_iter().skip(1).collect();
        for origin in &self.forward_auth.origins {
            if let Ok(o) = parse_origin(origin) {
                if !origins.contains(&o) {
                    origins.push(o);
                }
            }
        }
        origins
    }

    pub fn forward_auth_policy(&self) -> crate::domain::forward_auth::ForwardAuthPolicy {
        use crate::domain::forward_auth::{ForwardAuthPolicy, HostRule, ProtectedHost};
        ForwardAuthPolicy {
            rules: self
                .forward_auth
                .rules
                .iter()
                .filter_map(|rule| {
                    Some(HostRule {
                        host: ProtectedHost::parse_rule(&rule.host)?,
                        addresses: rule
                            .addresses
                            .iter()
                            .filter_map(|a| crate::domain::siwe::parse_address(a).ok())
                            .collect(),
                    })
                })
                .collect(),
            return_origins: self.return_origins(),
        }
    }

    /// The per-address connection cap: `server.max_connections_per_ip`, else a quarter of
    /// `server.max_connections` (at least 1).
    pub fn max_connections_per_ip(&self) -> usize {
        self.server
            .max_connections_per_ip
            .unwrap_or((self.server.max_connections / 4).max(1))
    }

    pub fn trusted_proxies(&self) -> Vec<ipnet::IpNet> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|c| parse_cidr(c).ok())
            .collect()
    }

    fn cookie_secure_with(&self, public: &Url) -> bool {
        match self.session.secure {
            SecureCookie::Auto => public.scheme() == "https",
            SecureCookie::Always => true,
            SecureCookie::Never => false,
        }
    }

    /// Whether session cookies carry the Secure attribute.
    pub fn cookie_secure(&self) -> bool {
        self.public_url()
            .map(|url| self.cookie_secure_with(&url))
            .unwrap_or(false)
    }

    /// The folder for generated files (the secret key), next to the database.
    pub fn data_dir(&self) -> PathBuf {
        match self.database.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

/// A CIDR, or a single address (taken as /32 or /128).
fn parse_cidr(text: &str) -> anyhow::Result<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .with_context(|| {
            format!("server.trusted_proxies: {text:?} is not an address or CIDR such as 10.0.0.0/8")
        })
}

/// The ASCII serialisation of an origin (`https://app.example.org`), from a URL without path.
fn parse_origin(text: &str) -> anyhow::Result<String> {
    let url = Url::parse(text).context("not a URL such as https://app.example.org")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("must be an http or https origin");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        bail!("must be an origin only (no path)");
    }
    Ok(url.origin().ascii_serialization())
}

/// Every dotted key a setting can have, read off the defaults (None values included).
fn known_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = value {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                walk(&path, child, out);
                out.insert(path);
            }
        }
    }
    let mut keys = BTreeSet::new();
    if let Ok(value) = serde_json::to_value(Settings::default()) {
        walk("", &value, &mut keys);
    }
    keys
}

fn describe_figment_error(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("invalid configuration: {key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn file_and_environment_layer_over_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "siwe.toml",
                r#"
                [server]
                public_url = "https://login.example.org"
                [siwe]
                chain_ids = [1, 10]
                "#,
            )?;
            jail.set_env("SIWE_SESSION__SAME_SITE", "none");
            jail.set_env("SIWE_SERVER__BIND", "127.0.0.1:9999");
            jail.set_env("SIWE_NOT__A_KEY", "x");
            let loaded = Settings::load(Some(Path::new("siwe.toml"))).map_err(|e| e.to_string())?;
            let s = loaded.settings;
            assert_eq!(s.server.public_url, "https://login.example.org");
            assert_eq!(s.server.bind, "127.0.0.1:9999");
            assert_eq!(s.siwe.chain_ids, vec![1, 10]);
            assert_eq!(s.session.same_site, SameSite::None);
            assert!(s.cookie_secure());
            assert_eq!(loaded.warnings.len(), 1);
            assert!(loaded.warnings[0].contains("SIWE_NOT__A_KEY"));
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_names_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[server]\nbnid = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("c.toml")))
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("bnid"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn same_site_none_without_https_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SIWE_SESSION__SAME_SITE", "none");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("same_site"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SIWE_SESSION__TTL_SECS", "soon");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("session.ttl_secs"), "{err}");
            jail.set_env("SIWE_SESSION__TTL_SECS", "60");
            jail.set_env("SIWE_SERVER__PUBLIC_URL", "login.example.org");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("server.public_url"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_zero_reauth_window_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SIWE_SESSION__REAUTH_WINDOW_SECS", "0");
            let err = Settings::load(None).err().unwrap().to_string();
            assert!(err.contains("session.reauth_window_secs"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_example_config_loads_and_names_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example");
        let text = std::fs::read_to_string(&path).unwrap();
        figment::Jail::expect_with(|_| {
            let loaded = Settings::load(Some(&path)).map_err(|e| e.to_string())?;
            let defaults = serde_json::to_value(Settings::default()).unwrap();
            assert_eq!(
                serde_json::to_value(loaded.settings).unwrap(),
                defaults,
                "its values are the defaults"
            );
            Ok(())
        });
        for key in known_keys() {
            let leaf = key.rsplit('.').next().unwrap();
            let section = key.split('.').next().unwrap();
            if key.contains('.') {
                let documented = text.lines().any(|l| {
                    let l = l.trim_start_matches("# ").trim_start_matches('#').trim();
                    l.starts_with(&format!("{leaf} ="))
                        || l.starts_with(&format!("[[{section}.{leaf}]]"))
                });
                assert!(documented, "config.toml.example documents {key}");
            } else {
                assert!(
                    text.contains(&format!("[{key}]")),
                    "config.toml.example has [{key}]"
                );
            }
        }
    }

    #[test]
    fn secret_is_not_printed() {
        let secret = Secret("x".repeat(40));
        assert!(!format!("{secret:?}").contains("xxxx"));
    }
}
