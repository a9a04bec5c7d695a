//! The client's address: the socket peer, unless the peer is a trusted proxy; then the right-most
//! address in X-Forwarded-For (or Forwarded) that is not itself a trusted proxy. A client that is
//! not a trusted proxy cannot choose its address by sending those headers. The same rule holds
//! for the URL a proxy says it was asked for (forward-auth).

use std::{net::IpAddr, sync::Arc};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use poem::http::HeaderMap;
use url::Url;

use crate::domain::forward_auth::parse_original_url;

/// Which peers are trusted proxies. Clones share one list, which [`ClientIpResolver::reload`]
/// replaces for all of them at once (`server.trusted_proxies` on SIGHUP).
#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    trusted: Arc<ArcSwap<Vec<IpNet>>>,
}

fn is_trusted(trusted: &[IpNet], ip: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// Maps IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) to IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl ClientIpResolver {
    pub fn new(trusted: Vec<IpNet>) -> Self {
        Self {
            trusted: Arc::new(ArcSwap::from_pointee(trusted)),
        }
    }

    /// Trusts `trusted` from the next request or connection on, in every clone.
    pub fn reload(&self, trusted: Vec<IpNet>) {
        self.trusted.store(Arc::new(trusted));
    }

    /// Whether forwarding headers from this peer are believed.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        is_trusted(&self.trusted.load(), canonical(peer))
    }

    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // One list for the whole request, even if a reload swaps it meanwhile.
        let trusted = self.trusted.load();
        let peer = canonical(peer);
        if !is_trusted(&trusted, peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if is_trusted(&trusted, *ip) => client = *ip,
                Some(ip) => return *ip,
                // An entry we cannot read: stop at the last proxy we trust.
                None => return client,
            }
        }
        client
    }
}

impl ClientIpResolver {
    /// Whether the client reached the proxy over https, as a trusted proxy says in
    /// X-Forwarded-Proto or Forwarded `proto=` (the right-most value, the one it set).
    pub fn forwarded_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        if !self.trusts(peer) {
            return false;
        }
        let last = |name: &str| -> Option<String> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .last()
                .map(|v| v.trim().to_ascii_lowercase())
        };
        if let Some(proto) = last("x-forwarded-proto") {
            return proto == "https";
        }
        last("forwarded").is_some_and(|element| {
            element.split(';').any(|pair| {
                pair.trim().split_once('=').is_some_and(|(k, v)| {
                    k.eq_ignore_ascii_case("proto") && v.trim_matches('"') == "https"
                })
            })
        })
    }
}

impl ClientIpResolver {
    /// The URL the client asked a trusted proxy for: `X-Original-URL` when present (nginx; then
    /// nothing else, since nginx passes a client's own `X-Forwarded-Host` through), else
    /// `X-Forwarded-Proto`/`-Host`/`-Uri` (Traefik, Caddy). None when the peer is not a trusted
    /// proxy, or the headers are missing, repeated or unreadable: the caller cannot know.
    pub fn original_url(&self, peer: IpAddr, headers: &HeaderMap) -> Option<Url> {
        if !self.trusts(peer) {
            return None;
        }
        if headers.contains_key("x-original-url") {
            return parse_original_url(single_value(headers, "x-original-url")?);
        }
        let host = single_value(headers, "x-forwarded-host")?;
        if host.contains(['/', '?', '#']) {
            return None;
        }
        let proto = match headers.contains_key("x-forwarded-proto") {
            true => single_value(headers, "x-forwarded-proto")?,
            false => "https",
        };
        if !(proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("https")) {
            return None;
        }
        let uri = match headers.contains_key("x-forwarded-uri") {
            true => {
                Some(single_value(headers, "x-forwarded-uri")?).filter(|u| u.starts_with('/'))?
            }
            false => "/",
        };
        parse_original_url(&format!("{proto}://{host}{uri}"))
    }
}

/// The one value of a header: None when absent, repeated, a comma-separated list, empty or not
/// ASCII.
fn single_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?.to_str().ok()?.trim();
    let list = value.contains(',') && name != "x-original-url" && name != "x-forwarded-uri";
    (values.next().is_none() && !list && !value.is_empty()).then_some(value)
}

/// The hops of X-Forwarded-For, or else of Forwarded's `for=` parameters, left to right. Each
/// hop is read on its own: bytes a proxy or client put in one hop (non-ASCII, say) make that
/// hop unreadable, not the whole header.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<Option<IpAddr>> = hops(headers, "x-forwarded-for")
        .map(|hop| {
            std::str::from_utf8(hop)
                .ok()
                .and_then(|h| parse_node(h.trim()))
        })
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    hops(headers, "forwarded")
        .filter_map(|element| {
            let Ok(element) = std::str::from_utf8(element) else {
                // An unreadable element may have been a `for=`: count it as an unreadable hop.
                return Some(None);
            };
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.eq_ignore_ascii_case("for")
                    .then(|| parse_node(value.trim()))
            })
        })
        .collect()
}

/// The comma-separated elements of every value of a header, as bytes.
fn hops<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `"[2001:db8::1]:80"`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok().map(canonical);
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let r = ClientIpResolver::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(r.resolve(ip("1.2.3.4"), &h), ip("1.2.3.4"));
    }

    #[test]
    fn a_reload_changes_every_clone() {
        let r = ClientIpResolver::new(Vec::new());
        let copy = r.clone();
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(copy.resolve(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        r.reload(vec!["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(copy.resolve(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        assert!(copy.trusts(ip("10.0.0.1")));
    }

    #[test]
    fn trusted_proxies_give_the_right_most_untrusted_hop() {
        let r = ClientIpResolver::new(vec!["10.0.0.0/8".parse().unwrap()]);
        // The client prepended a lie; the proxies appended what they saw.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2")]);
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        let h = headers(&[("x-forwarded-for", "junk, 10.0.0.3")]);
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("10.0.0.3"));
        assert_eq!(r.resolve(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(
            r.resolve(
                ip("::ffff:10.0.0.1"),
                &headers(&[("x-forwarded-for", "198.51.100.1")])
            ),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn https_is_believed_from_trusted_proxies_only() {
        let r = ClientIpResolver::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert!(r.forwarded_https(ip("127.0.0.1"), &h));
        assert!(!r.forwarded_https(ip("127.0.0.2"), &h));
        assert!(r.forwarded_https(
            ip("127.0.0.1"),
            &headers(&[("forwarded", "for=1.2.3.4;proto=https")])
        ));
        assert!(!r.forwarded_https(ip("127.0.0.1"), &headers(&[("x-forwarded-proto", "http")])));
    }

    #[test]
    fn original_url_comes_from_trusted_proxies_only() {
        let r = ClientIpResolver::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let url = |peer: &str, pairs: &[(&'static str, &str)]| {
            r.original_url(ip(peer), &headers(pairs))
                .map(|u| u.to_string())
        };
        let traefik = [
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "App.example.org"),
            ("x-forwarded-uri", "/a?b=c,d"),
        ];
        assert_eq!(
            url("127.0.0.1", &traefik).as_deref(),
            Some("http://app.example.org/a?b=c,d")
        );
        assert_eq!(url("127.0.0.2", &traefik), None);
        assert_eq!(
            url("127.0.0.1", &[("x-forwarded-host", "app.example.org")]).as_deref(),
            Some("https://app.example.org/")
        );
        // X-Original-URL is the only source when present.
        assert_eq!(
            url(
                "127.0.0.1",
                &[
                    ("x-original-url", "https://admin.example.org/x"),
                    ("x-forwarded-host", "open.example"),
                ]
            )
            .as_deref(),
            Some("https://admin.example.org/x")
        );
        assert_eq!(
            url(
                "127.0.0.1",
                &[
                    ("x-original-url", "http:///x"),
                    ("x-forwarded-host", "open.example")
                ]
            ),
            None
        );
        // Several hosts, or junk: nobody can say which.
        for junk in [
            &[("x-forwarded-host", "admin.example.org, open.example")][..],
            &[
                ("x-forwarded-host", "admin.example.org"),
                ("x-forwarded-host", "open.example"),
            ],
            &[("x-forwarded-host", "")],
            &[("x-forwarded-host", "a b")],
            &[
                ("x-forwarded-host", "app.example.org"),
                ("x-forwarded-uri", "@evil/"),
            ],
            &[
                ("x-forwarded-host", "app.example.org"),
                ("x-forwarded-proto", "ftp"),
            ],
            &[
                ("x-forwarded-host", "app.example.org"),
                ("x-forwarded-proto", "http, https"),
            ],
            &[("x-forwarded-host", "admin.example.org/x")],
            &[("x-forwarded-host", "admin.example.org?")],
            &[
                ("x-forwarded-host", "app.example.org"),
                ("x-forwarded-proto", "http://admin.example.org"),
            ],
        ] {
            assert_eq!(url("127.0.0.1", junk), None, "{junk:?}");
        }
        assert_eq!(url("127.0.0.1", &[]), None);
    }

    #[test]
    fn a_hop_with_non_ascii_bytes_spoils_only_itself() {
        let r = ClientIpResolver::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"caf\xc3\xa9, 203.0.113.7, 10.0.0.2").unwrap(),
        );
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("203.0.113.7"));
        // The unreadable hop is right of the client: stop at the last trusted proxy.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.7, \xff, 10.0.0.2").unwrap(),
        );
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        let mut h = HeaderMap::new();
        h.append(
            "forwarded",
            HeaderValue::from_bytes(b"for=\"\xe2\x98\x83\", for=198.51.100.9").unwrap(),
        );
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("198.51.100.9"));
    }

    #[test]
    fn forwarded_header_is_understood() {
        let r = ClientIpResolver::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https",
        )]);
        assert_eq!(r.resolve(ip("127.0.0.1"), &h), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "proto=https;for=198.51.100.9:80")]);
        assert_eq!(r.resolve(ip("127.0.0.1"), &h), ip("198.51.100.9"));
    }
}
