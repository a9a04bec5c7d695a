//! Resolves each request's client address once (the rule is `client_ip.rs`) and stores it on the
//! request for the layers and handlers inside.

use std::net::{IpAddr, Ipv4Addr};

use poem::{Endpoint, IntoResponse, Request, Response};

use super::{client_ip::ClientIpResolver, Around};

/// Where a request came from, as far as it can be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: IpAddr,
    /// The client used https to reach us (through a trusted proxy; we do not terminate TLS).
    pub https: bool,
    /// The socket peer is a trusted proxy, so its other forwarding headers are believed too.
    pub via_trusted_proxy: bool,
}

impl ClientAddress {
    /// The address [`ResolveClientAddress`] stored; the unspecified address outside that layer.
    pub fn of(req: &Request) -> Self {
        req.extensions()
            .get::<ClientAddress>()
            .copied()
            .unwrap_or(ClientAddress {
                ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                https: false,
                via_trusted_proxy: false,
            })
    }
}

/// The middleware that stores each request's [`ClientAddress`].
#[derive(Debug, Clone)]
pub struct ResolveClientAddress {
    resolver: ClientIpResolver,
}

impl ResolveClientAddress {
    pub fn new(resolver: ClientIpResolver) -> Self {
        Self { resolver }
    }
}

impl Around for ResolveClientAddress {
    async fn around<E: Endpoint>(&self, inner: &E, mut req: Request) -> poem::Result<Response> {
        let peer = req
            .remote_addr()
            .as_socket_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let address = ClientAddress {
            ip: self.resolver.resolve(peer, req.headers()),
            https: self.resolver.forwarded_https(peer, req.headers()),
            via_trusted_proxy: self.resolver.trusts(peer),
        };
        req.extensions_mut().insert(address);
        Ok(inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use poem::{
        endpoint::make_sync,
        http::uri::Scheme,
        web::{LocalAddr, RemoteAddr},
        Addr, Body, EndpointExt, RequestParts,
    };

    use super::*;

    /// A request from `peer` with the given headers.
    fn request_from(peer: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = poem::http::Request::builder().uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        let peer: SocketAddr = peer.parse().unwrap();
        let parts = RequestParts::from((
            parts,
            LocalAddr::default(),
            RemoteAddr(Addr::SocketAddr(peer)),
            Scheme::HTTP,
        ));
        Request::from_parts(parts, Body::empty())
    }

    /// What the layer stores for `req`, as "ip https via_trusted_proxy".
    async fn resolved(trusted: &[&str], req: Request) -> String {
        let resolver = ClientIpResolver::new(trusted.iter().map(|n| n.parse().unwrap()).collect());
        let app = make_sync(|req| {
            let a = ClientAddress::of(&req);
            format!("{} {} {}", a.ip, a.https, a.via_trusted_proxy)
        })
        .with(ResolveClientAddress::new(resolver));
        let resp = app.call(req).await.unwrap();
        resp.into_body().into_string().await.unwrap()
    }

    #[tokio::test]
    async fn a_direct_client_is_its_peer_whatever_it_sends() {
        let req = request_from(
            "198.51.100.7:4000",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(resolved(&[], req).await, "198.51.100.7 false false");
    }

    #[tokio::test]
    async fn a_trusted_proxy_names_the_client_and_its_scheme() {
        let req = request_from(
            "[::ffff:10.0.0.2]:4000",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(
            resolved(&["10.0.0.0/8"], req).await,
            "203.0.113.9 true true"
        );
    }

    #[test]
    fn outside_the_layer_the_address_is_unspecified() {
        assert_eq!(
            ClientAddress::of(&Request::default()).ip.to_string(),
            "0.0.0.0"
        );
    }
}
