//! The session cookie: set and cleared with exactly the same attributes.

use poem::web::cookie::{Cookie, SameSite as CookieSameSite};

use crate::config::{SameSite, Settings};

#[derive(Debug, Clone)]
pub struct SessionCookie {
    name: String,
    same_site: CookieSameSite,
    secure: bool,
    domain: Option<String>,
    max_age: std::time::Duration,
}

impl SessionCookie {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            name: settings.session.cookie_name.clone(),
            same_site: match settings.session.same_site {
                SameSite::Lax => CookieSameSite::Lax,
                SameSite::Strict => CookieSameSite::Strict,
                SameSite::None => CookieSameSite::None,
            },
            secure: settings.cookie_secure(),
            domain: settings.session.domain.clone(),
            max_age: std::time::Duration::from_secs(settings.session.ttl_secs),
        }
    }

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
