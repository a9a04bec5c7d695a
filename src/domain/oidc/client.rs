//! The apps that may sign people in here (OpenID Connect relying parties) and the rules of
//! their registration, the same for `[[oidc.clients]]` and `siwe-server clients add`.

use url::Url;

use super::scope::{Scope, Scopes};
use crate::domain::signing_alg::SigningAlg;

/// What `sub` an app sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectType {
    /// The account id, the same for every app.
    #[default]
    Public,
    /// A value of its own per app, so apps cannot match their users up.
    Pairwise,
}

impl SubjectType {
    pub const ALL: [Self; 2] = [Self::Public, Self::Pairwise];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A registered app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// MAC of the secret (`OidcSecret::ClientSecret`, owner = id); `None`: a public client.
    pub secret_mac: Option<[u8; 32]>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// What it may ask for.
    pub scopes: Scopes,
    /// Trusted apps skip the consent page.
    pub trusted: bool,
    pub subject: SubjectType,
    pub id_token_alg: SigningAlg,
}

impl Client {
    /// A public client (a browser or native app) holds no secret and must use PKCE.
    pub fn is_public(&self) -> bool {
        self.secret_mac.is_none()
    }

    /// Whether `uri` is registered, compared as exact strings (OpenID Connect Core 3.1.2.1).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }
}

/// An app as configured or given to the CLI, before its rules are checked.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub id: String,
    /// Shown on the consent page; the id when empty.
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes; `None`: all of them.
    pub scopes: Option<Vec<String>>,
    pub trusted: bool,
    pub subject: String,
    pub id_token_alg: String,
}

/// A broken rule of a registration: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn broken(field: &'static str, message: impl Into<String>) -> ClientError {
    ClientError {
        field,
        message: message.into(),
    }
}

/// Longest client id: ids travel in URLs, tokens and the database key.
const MAX_ID_LEN: usize = 100;

impl ClientSpec {
    /// The client these fields describe, if they keep every rule; `secret_mac` decides whether
    /// it is public.
    pub fn check(self, secret_mac: Option<[u8; 32]>) -> Result<Client, ClientError> {
        check_id(&self.id)?;
        if self.redirect_uris.is_empty() {
            return Err(broken("redirect_uris", "at least one is needed"));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri).map_err(|m| broken("redirect_uris", format!("{uri:?} {m}")))?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri)
                .map_err(|m| broken("post_logout_redirect_uris", format!("{uri:?} {m}")))?;
        }
        let scopes = match &self.scopes {
            None => Scopes::all(),
            Some(names) => Scopes::parse_all(names.iter().map(String::as_str)).map_err(|name| {
                broken(
                    "scopes",
                    format!("{name:?} is not a scope this server knows"),
                )
            })?,
        };
        if !scopes.contains(Scope::OpenId) {
            return Err(broken("scopes", "must contain \"openid\""));
        }
        let subject = SubjectType::from_name(&self.subject)
            .ok_or_else(|| broken("subject", "must be \"public\" or \"pairwise\""))?;
        let id_token_alg = SigningAlg::from_name(&self.id_token_alg)
            .ok_or_else(|| broken("id_token_alg", "must be \"RS256\" or \"EdDSA\""))?;
        let name = if self.name.trim().is_empty() {
            self.id.clone()
        } else {
            self.name
        };
        Ok(Client {
            id: self.id,
            name,
            secret_mac,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            scopes,
            trusted: self.trusted,
            subject,
            id_token_alg,
        })
    }
}

/// Ids are printable ASCII without spaces or `:` (HTTP Basic authentication splits on it).
fn check_id(id: &str) -> Result<(), ClientError> {
    let printable = id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if id.is_empty() || id.len() > MAX_ID_LEN || !printable {
        return Err(broken(
            "id",
            format!(
                "{id:?} must be 1 to {MAX_ID_LEN} printable ASCII characters without spaces or ':'"
            ),
        ));
    }
    Ok(())
}

/// A redirect URI may be registered when it is absolute, https (or http to the loopback
/// interface, for native apps: RFC 8252 section 7.3) and has no fragment (RFC 6749 3.1.2).
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    let url = Url::parse(uri).map_err(|_| "is not an absolute URL")?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("has a fragment");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err("must be https (plain http only to 127.0.0.1, [::1] or localhost)"),
        _ => Err("must be an https URL"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(host)) => host.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClientSpec {
        ClientSpec {
            id: "grafana".into(),
            name: "Grafana".into(),
            redirect_uris: vec!["https://grafana.example.org/login/generic_oauth".into()],
            post_logout_redirect_uris: vec![],
            scopes: None,
            trusted: false,
            subject: "public".into(),
            id_token_alg: "RS256".into(),
        }
    }

    fn field_of(spec: ClientSpec) -> &'static str {
        spec.check(None).unwrap_err().field
    }

    #[test]
    fn a_complete_spec_is_a_client_with_every_scope_by_default() {
        let client = spec().check(Some([1; 32])).unwrap();
        assert_eq!(client.scopes, Scopes::all());
        assert_eq!(client.id_token_alg, SigningAlg::Rs256);
        assert!(!client.is_public());
        assert!(client.has_redirect_uri("https://grafana.example.org/login/generic_oauth"));
        assert!(!client.has_redirect_uri("https://grafana.example.org/login/generic_oauth/"));
        let public = ClientSpec {
            name: " ".into(),
            ..spec()
        }
        .check(None)
        .unwrap();
        assert!(public.is_public());
        assert_eq!(public.name, "grafana", "an empty name is the id");
    }

    #[test]
    fn redirect_uris_are_absolute_https_or_loopback_without_fragment() {
        for good in [
            "https://app.example.org/cb",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:1234/cb",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "/cb",
            "app.example.org/cb",
            "http://app.example.org/cb",
            "https://app.example.org/cb#x",
            "https://app.example.org/cb#",
            "ftp://app.example.org/cb",
            "javascript:alert(1)",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        let fragment = ClientSpec {
            post_logout_redirect_uris: vec!["https://a.example.org/#bye".into()],
            ..spec()
        };
        assert_eq!(field_of(fragment), "post_logout_redirect_uris");
        let none = ClientSpec {
            redirect_uris: vec![],
            ..spec()
        };
        assert_eq!(field_of(none), "redirect_uris");
    }

    #[test]
    fn scopes_must_be_known_and_contain_openid() {
        let unknown = ClientSpec {
            scopes: Some(vec!["openid".into(), "phone".into()]),
            ..spec()
        };
        assert!(unknown.check(None).unwrap_err().message.contains("phone"));
        let without_openid = ClientSpec {
            scopes: Some(vec!["email".into()]),
            ..spec()
        };
        assert_eq!(field_of(without_openid), "scopes");
        let narrow = ClientSpec {
            scopes: Some(vec!["openid".into(), "email".into()]),
            ..spec()
        };
        assert_eq!(
            narrow.check(None).unwrap().scopes.to_string(),
            "openid email"
        );
    }

    #[test]
    fn subject_alg_and_id_are_checked() {
        let subject = ClientSpec {
            subject: "random".into(),
            ..spec()
        };
        assert_eq!(field_of(subject), "subject");
        let alg = ClientSpec {
            id_token_alg: "HS256".into(),
            ..spec()
        };
        assert_eq!(field_of(alg), "id_token_alg");
        for id in ["", "a b", "a:b", &"x".repeat(101)] {
            let bad = ClientSpec {
                id: id.to_string(),
                ..spec()
            };
            assert_eq!(field_of(bad), "id", "{id:?}");
        }
        let pairwise = ClientSpec {
            subject: "pairwise".into(),
            id_token_alg: "EdDSA".into(),
            ..spec()
        };
        let client = pairwise.check(None).unwrap();
        assert_eq!(client.subject, SubjectType::Pairwise);
        assert_eq!(client.id_token_alg, SigningAlg::EdDsa);
    }
}
