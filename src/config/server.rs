//! `[server]`: where the server listens, the URL people use, which proxies are believed, and
//! connection limits.

use std::{net::SocketAddr, time::Duration};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use url::Url;

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
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    pub shutdown_grace_secs: u64,
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
            shutdown_grace_secs: 10,
        }
    }
}

/// `[server]`, checked and parsed.
#[derive(Debug, Clone)]
pub struct Server {
    pub bind: SocketAddr,
    pub public_url: Url,
    /// public_url's origin (`https://login.example.org`, no trailing slash).
    pub public_origin: String,
    /// host[:port] of public_url, as a message's domain line carries it.
    pub public_domain: String,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_connections: usize,
    /// `max_connections_per_ip`, else a quarter of `max_connections` (at least 1).
    pub max_connections_per_ip: usize,
    pub header_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub shutdown_grace: Duration,
}

impl ServerSettings {
    pub fn validate(&self) -> anyhow::Result<Server> {
        let bind = self.bind.parse().with_context(|| {
            format!(
                "server.bind {:?} must be an address and port such as 127.0.0.1:8080",
                self.bind
            )
        })?;
        let public_url = self.parse_public_url()?;
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|cidr| parse_cidr(cidr))
            .collect::<anyhow::Result<_>>()?;
        if self.max_connections == 0 {
            bail!("server.max_connections must be at least 1");
        }
        if self.max_connections_per_ip == Some(0) {
            bail!("server.max_connections_per_ip must be at least 1 (or unset)");
        }
        if self.header_timeout_secs == 0 {
            bail!("server.header_timeout_secs must be at least 1");
        }
        if self.keep_alive_timeout_secs == 0 {
            bail!("server.keep_alive_timeout_secs must be at least 1");
        }
        if !(1..=600).contains(&self.shutdown_grace_secs) {
            bail!("server.shutdown_grace_secs must be between 1 and 600");
        }
        Ok(Server {
            bind,
            public_origin: public_url.origin().ascii_serialization(),
            public_domain: domain_of(&public_url),
            public_url,
            trusted_proxies,
            max_connections: self.max_connections,
            max_connections_per_ip: self
                .max_connections_per_ip
                .unwrap_or((self.max_connections / 4).max(1)),
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout_secs),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
        })
    }

    fn parse_public_url(&self) -> anyhow::Result<Url> {
        let raw = &self.public_url;
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
}

/// host[:port] of a URL, as a message's domain line carries it.
fn domain_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_once_with_the_derived_values() {
        let settings = ServerSettings {
            public_url: "https://Login.Example.org:8443".into(),
            trusted_proxies: vec!["10.0.0.1".into(), "192.168.0.0/16".into()],
            max_connections: 10,
            ..ServerSettings::default()
        };
        let server = settings.validate().unwrap();
        assert_eq!(server.bind, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(server.public_origin, "https://login.example.org:8443");
        assert_eq!(server.public_domain, "login.example.org:8443");
        assert_eq!(server.trusted_proxies.len(), 2);
        assert_eq!(
            server.max_connections_per_ip, 2,
            "a quarter of max_connections"
        );
        assert_eq!(server.header_timeout, Duration::from_secs(10));
    }
}
