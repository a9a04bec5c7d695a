//! Forward-auth for reverse proxies: who may reach which protected host, and where to send a
//! signed-out browser.

use url::Url;

/// An allow-list of addresses for one protected host.
#[derive(Debug, Clone)]
pub struct HostRule {
    /// Lowercase host, with or without port.
    pub host: String,
    /// EIP-55 addresses.
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ForwardAuthPolicy {
    pub rules: Vec<HostRule>,
    /// Origins a signed-out browser may be sent back to after signing in.
    pub return_origins: Vec<String>,
}

impl ForwardAuthPolicy {
    /// Whether a session signed in with `address` may reach `host` (hosts without a rule are
    /// open to every signed-in wallet).
    pub fn allows(&self, host: Option<&str>, address: &str) -> bool {
        let Some(host) = host.map(str::to_ascii_lowercase) else {
            return true;
        };
        let bare = host
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host.as_str(), |(h, _)| h);
        let matching: Vec<&HostRule> = self
            .rules
            .iter()
            .filter(|rule| rule.host == host || rule.host == bare)
            .collect();
        matching.is_empty()
            || matching
                .iter()
                .any(|rule| rule.addresses.iter().any(|a| a == address))
    }

    /// The login page, with `next` back to the original URL when that URL is on an origin people
    /// may be sent back to.
    pub fn login_url(&self, public_origin: &str, original: Option<&str>) -> String {
        let login = format!("{public_origin}/login");
        let Some(original) = original.and_then(|o| Url::parse(o).ok()) else {
            return login;
        };
        let origin = original.origin().ascii_serialization();
        if origin == public_origin || self.return_origins.contains(&origin) {
            let mut url = Url::parse(&login).unwrap_or(original.clone());
            url.query_pairs_mut().append_pair("next", original.as_str());
            url.to_string()
        } else {
            login
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ForwardAuthPolicy {
        ForwardAuthPolicy {
            rules: vec![HostRule {
                host: "admin.example.org".into(),
                addresses: vec!["0xAa".into()],
            }],
            return_origins: vec![
                "https://app.example.org".into(),
                "https://admin.example.org".into(),
            ],
        }
    }

    #[test]
    fn rules_restrict_their_host_only() {
        let p = policy();
        assert!(p.allows(Some("admin.example.org"), "0xAa"));
        assert!(p.allows(Some("ADMIN.example.org:443"), "0xAa"));
        assert!(!p.allows(Some("admin.example.org"), "0xBb"));
        assert!(!p.allows(Some("admin.example.org:8443"), "0xBb"));
        assert!(p.allows(Some("app.example.org"), "0xBb"));
        assert!(p.allows(None, "0xBb"));
    }

    #[test]
    fn login_url_returns_only_to_known_origins() {
        let p = policy();
        let login = p.login_url(
            "https://login.example.org",
            Some("https://app.example.org/a?b=c&d"),
        );
        assert_eq!(
            login,
            "https://login.example.org/login?next=https%3A%2F%2Fapp.example.org%2Fa%3Fb%3Dc%26d"
        );
        assert_eq!(
            p.login_url("https://login.example.org", Some("https://evil.example/x")),
            "https://login.example.org/login"
        );
        assert_eq!(
            p.login_url("https://login.example.org", Some("not a url")),
            "https://login.example.org/login"
        );
        assert_eq!(
            p.login_url("https://login.example.org", None),
            "https://login.example.org/login"
        );
    }
}
