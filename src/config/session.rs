//! `[session]`: the session cookie's name and attributes, and how long sessions last.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

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

/// `[session]`, checked, with `secure` decided.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie_name: String,
    pub same_site: SameSite,
    /// Whether the cookie carries the Secure attribute ("auto" decided by public_url's scheme).
    pub secure: bool,
    pub domain: Option<String>,
    pub ttl: Duration,
    pub reauth_window: Duration,
}

impl SessionSettings {
    /// `public` is the checked `server.public_url` (Secure "auto" follows its scheme).
    pub fn validate(&self, public: &Url) -> anyhow::Result<Session> {
        if self.ttl_secs == 0 {
            bail!("session.ttl_secs must be at least 1");
        }
        if self.reauth_window_secs == 0 {
            bail!("session.reauth_window_secs must be at least 1");
        }
        let name = &self.cookie_name;
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
        let secure = match self.secure {
            SecureCookie::Auto => public.scheme() == "https",
            SecureCookie::Always => true,
            SecureCookie::Never => false,
        };
        if self.same_site == SameSite::None && !secure {
            bail!(
                "session.same_site = \"none\" needs Secure cookies: browsers drop SameSite=None \
                 cookies without Secure. Serve over https (server.public_url = \"https://...\") \
                 and keep session.secure = \"auto\" or true. In-wallet browsers need \
                 SameSite=None; Secure when your app and this server are on different sites."
            );
        }
        if let Some(domain) = &self.domain {
            let bare = domain.trim_start_matches('.');
            if bare.is_empty() || bare.contains(['/', ':', ' ', ';']) {
                bail!("session.domain {domain:?} must be a domain such as .example.org");
            }
        }
        Ok(Session {
            cookie_name: self.cookie_name.clone(),
            same_site: self.same_site,
            secure,
            domain: self.domain.clone(),
            ttl: Duration::from_secs(self.ttl_secs),
            reauth_window: Duration::from_secs(self.reauth_window_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_auto_follows_the_public_urls_scheme() {
        let settings = SessionSettings::default();
        let https = Url::parse("https://login.example.org").unwrap();
        let http = Url::parse("http://localhost:8080").unwrap();
        assert!(settings.validate(&https).unwrap().secure);
        assert!(!settings.validate(&http).unwrap().secure);
        let always = SessionSettings {
            secure: SecureCookie::Always,
            ..SessionSettings::default()
        };
        assert!(always.validate(&http).unwrap().secure);
    }
}
