//! The session cookie: set and cleared with exactly the same attributes, under one effective
//! name that every reader uses.

use poem::web::cookie::{Cookie, SameSite as CookieSameSite};

use crate::config::{SameSite, Session};

#[derive(Debug, Clone)]
pub struct SessionCookie {
    name: String,
    same_site: CookieSameSite,
    secure: bool,
    domain: Option<String>,
    max_age: std::time::Duration,
}

impl SessionCookie {
    pub fn from_settings(session: &Session) -> Self {
        let secure = session.secure;
        let domain = session.domain.clone();
        Self {
            name: effective_name(&session.cookie_name, secure, domain.is_some()),
            same_site: match session.same_site {
                SameSite::Lax => CookieSameSite::Lax,
                SameSite::Strict => CookieSameSite::Strict,
                SameSite::None => CookieSameSite::None,
            },
            secure,
            domain,
            max_age: session.ttl,
        }
    }

    /// The name the cookie is set and read under (see [`effective_name`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn build(&self, value: &str, max_age: std::time::Duration) -> String {
        let mut cookie = Cookie::new_with_str(&self.name, value);
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_secure(self.secure);
        cookie.set_same_site(self.same_site);
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain);
        }
        cookie.set_max_age(max_age);
        cookie.to_string()
    }

    /// `Set-Cookie` value that stores the session token.
    pub fn set(&self, token: &str) -> String {
        self.build(token, self.max_age)
    }

    /// `Set-Cookie` value that removes the cookie.
    pub fn clear(&self) -> String {
        self.build("", std::time::Duration::ZERO)
    }
}

/// `__Host-<name>` when the cookie is Secure and host-only: browsers then refuse such a cookie
/// set by any other host (a sibling subdomain cannot plant or shadow it) or without Secure and
/// `Path=/`. Browsers reject the prefix without Secure, so plain-http development and shared
/// `session.domain` deployments keep the configured name.
fn effective_name(configured: &str, secure: bool, has_domain: bool) -> String {
    if secure && !has_domain {
        format!("__Host-{configured}")
    } else {
        configured.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_prefix_only_for_secure_host_only_cookies() {
        assert_eq!(effective_name("s", true, false), "__Host-s");
        assert_eq!(effective_name("s", false, false), "s");
        assert_eq!(effective_name("s", true, true), "s");
        assert_eq!(effective_name("s", false, true), "s");
    }
}
