//! Forward-auth for reverse proxies: who may reach which protected host, and where to send a
//! signed-out browser.
//!
//! Hosts are compared in one spelling: lower case (IDNs as punycode), no trailing dot, no
//! default port. Spellings a browser treats as the same site must match the same rule.

use url::Url;

/// A protected host in its one spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHost {
    /// Lower case, no trailing dot; IPv6 in brackets.
    pub host: String,
    /// None for the scheme's default port (and, in a rule, for any port).
    pub port: Option<u16>,
}

impl ProtectedHost {
    /// The host of a URL; None when it has none or its name is only dots.
    pub fn of_url(url: &Url) -> Option<Self> {
        let host = url.host_str()?;
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() || host.ends_with('.') {
            return None;
        }
        Some(Self {
            host: host.to_ascii_lowercase(),
            port: url.port(),
        })
    }

    /// A rule's host, `admin.example.org` or `admin.example.org:8443`. Ports 80 and 443 are
    /// dropped (a rule has no scheme), so such a rule covers every port of its host.
    pub fn parse_rule(text: &str) -> Option<Self> {
        if !plain_authority(text) || text.contains(['/', '?', '#']) {
            return None;
        }
        let url = Url::parse(&format!("http://{text}/")).ok()?;
        let mut host = Self::of_url(&url)?;
        if host.port == Some(443) {
            host.port = None;
        }
        Some(host)
    }
}

impl std::fmt::Display for ProtectedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// An absolute http(s) URL as a proxy wrote it, refused when its authority is empty (nginx
/// writes `http:///path` for a request without Host, which a URL parser would read as host
/// `path`), carries user info, spaces or backslashes.
pub fn parse_original_url(text: &str) -> Option<Url> {
    let (scheme, rest) = text.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if !plain_authority(&rest[..end]) {
        return None;
    }
    let url = Url::parse(text).ok()?;
    ProtectedHost::of_url(&url).map(|_| url)
}

fn plain_authority(text: &str) -> bool {
    !text.is_empty()
        && !text.contains(['@', '\\'])
        && !text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// An allow-list of addresses for one protected host.
#[derive(Debug, Clone)]
pub struct HostRule {
    /// Without a port, the rule covers every port of the host.
    pub host: ProtectedHost,
    /// EIP-55 addresses.
    pub addresses: Vec<String>,
}

impl HostRule {
    fn covers(&self, host: &ProtectedHost) -> bool {
        self.host.host == host.host && (self.host.port.is_none() || self.host.port == host.port)
    }
}

/// What forward-auth answers a signed-in wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// A rule covers the host and the wallet is not on it.
    NotListed,
    /// Rules exist and the proxy did not say (credibly) which host was asked for.
    HostUnknown,
}

#[derive(Debug, Clone, Default)]
pub struct ForwardAuthPolicy {
    pub rules: Vec<HostRule>,
    /// Origins a signed-out browser may be sent back to after signing in.
    pub return_origins: Vec<String>,
}

impl ForwardAuthPolicy {
    /// Whether a session signed in with `address` may reach `host`. Hosts without a rule are
    /// open to every signed-in wallet; when rules exist, an unknown host is refused.
    pub fn access(&self, host: Option<&ProtectedHost>, address: &str) -> Access {
        if self.rules.is_empty() {
            return Access::Allowed;
        }
        let Some(host) = host else {
            return Access::HostUnknown;
        };
        let matching: Vec<&HostRule> = self.rules.iter().filter(|r| r.covers(host)).collect();
        if matching.is_empty()
            || matching
                .iter()
                .any(|rule| rule.addresses.iter().any(|a| a == address))
        {
            Access::Allowed
        } else {
            Access::NotListed
        }
    }

    /// The login page, with `next` back to the original URL when that URL is on an origin people
    /// may be sent back to.
    pub fn login_url(&self, public_origin: &str, original: Option<&Url>) -> String {
        let login = format!("{public_origin}/login");
        let Some(original) = original else {
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

    fn host(url: &str) -> Option<ProtectedHost> {
        parse_original_url(url).and_then(|u| ProtectedHost::of_url(&u))
    }

    fn policy() -> ForwardAuthPolicy {
        ForwardAuthPolicy {
            rules: vec![
                HostRule {
                    host: ProtectedHost::parse_rule("Admin.Example.ORG.").unwrap(),
                    addresses: vec!["0xAa".into()],
                },
                HostRule {
                    host: ProtectedHost::parse_rule("ops.example.org:8443").unwrap(),
                    addresses: vec!["0xCc".into()],
                },
            ],
            return_origins: vec![
                "https://app.example.org".into(),
                "https://admin.example.org".into(),
            ],
        }
    }

    #[test]
    fn hosts_have_one_spelling() {
        let plain = host("https://admin.example.org/x");
        assert_eq!(plain.as_ref().unwrap().to_string(), "admin.example.org");
        for spelling in [
            "https://ADMIN.Example.org/x",
            "https://admin.example.org./x",
            "https://admin.example.org:443/x",
            "http://admin.example.org:80/x",
            "HTTPS://admin.example.org",
        ] {
            assert_eq!(host(spelling), plain, "{spelling}");
        }
        assert_eq!(
            host("http://admin.example.org:8080/").unwrap().to_string(),
            "admin.example.org:8080"
        );
        assert_eq!(
            host("http://[::1]:8080/").unwrap().to_string(),
            "[::1]:8080"
        );
    }

    #[test]
    fn junk_urls_have_no_host() {
        for junk in [
            "http:///private/page",
            "http://",
            "https://user@admin.example.org/",
            "https://open.example@admin.example.org/",
            "https://admin example.org/",
            "https://admin.example.org\\@open.example/",
            "ftp://admin.example.org/",
            "/relative",
            "https://./",
            "https://admin.example.org../",
            "https://admin.example.org:abc/",
        ] {
            assert_eq!(host(junk), None, "{junk}");
        }
    }

    #[test]
    fn rule_hosts_are_normalised_and_checked() {
        let rule = |t: &str| ProtectedHost::parse_rule(t).map(|h| h.to_string());
        assert_eq!(rule("ADMIN.example.org."), Some("admin.example.org".into()));
        assert_eq!(
            rule("admin.example.org:80"),
            Some("admin.example.org".into())
        );
        assert_eq!(
            rule("admin.example.org:443"),
            Some("admin.example.org".into())
        );
        assert_eq!(
            rule("admin.example.org:8443"),
            Some("admin.example.org:8443".into())
        );
        for junk in [
            "",
            " ",
            "a b",
            "user@host",
            "host/path",
            "https://host",
            "host:x",
            ".",
        ] {
            assert_eq!(rule(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn rules_restrict_their_host_only() {
        let p = policy();
        let h = |u: &str| host(u).unwrap();
        assert_eq!(
            p.access(Some(&h("https://admin.example.org")), "0xAa"),
            Access::Allowed
        );
        assert_eq!(
            p.access(Some(&h("https://ADMIN.example.org.:8443")), "0xAa"),
            Access::Allowed
        );
        assert_eq!(
            p.access(Some(&h("https://admin.example.org")), "0xBb"),
            Access::NotListed
        );
        assert_eq!(
            p.access(Some(&h("http://admin.example.org:8443")), "0xBb"),
            Access::NotListed
        );
        assert_eq!(
            p.access(Some(&h("https://ops.example.org:8443")), "0xBb"),
            Access::NotListed
        );
        assert_eq!(
            p.access(Some(&h("https://ops.example.org:8443")), "0xCc"),
            Access::Allowed
        );
        assert_eq!(
            p.access(Some(&h("https://ops.example.org")), "0xBb"),
            Access::Allowed
        );
        assert_eq!(
            p.access(Some(&h("https://app.example.org")), "0xBb"),
            Access::Allowed
        );
        // Rules exist and nobody said which host: refused.
        assert_eq!(p.access(None, "0xAa"), Access::HostUnknown);
        assert_eq!(
            ForwardAuthPolicy::default().access(None, "0xBb"),
            Access::Allowed
        );
    }

    #[test]
    fn login_url_returns_only_to_known_origins() {
        let p = policy();
        let url = |u: &str| Url::parse(u).unwrap();
        let login = p.login_url(
            "https://login.example.org",
            Some(&url("https://app.example.org/a?b=c&d")),
        );
        assert_eq!(
            login,
            "https://login.example.org/login?next=https%3A%2F%2Fapp.example.org%2Fa%3Fb%3Dc%26d"
        );
        assert_eq!(
            p.login_url(
                "https://login.example.org",
                Some(&url("https://evil.example/x"))
            ),
            "https://login.example.org/login"
        );
        assert_eq!(
            p.login_url("https://login.example.org", None),
            "https://login.example.org/login"
        );
    }
}
