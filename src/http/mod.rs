//! The HTTP layer around the routes: client addresses, request ids and logging, security
//! headers, CORS, the `Allow` header, errors as JSON, origin checks, per-IP rate limits and body
//! limits; and the limits on connections. Each middleware is its own type in its own file and
//! carries its own configuration, built by `startup`. Must not depend on `api/` or `service/`.
//!
//! A new middleware: a file here with its type, its `impl Around` and its tests; then its name in
//! `middleware!`, a field in `Middlewares` and its place in `Middlewares::wrap` (say why there).
//!
//! poem's own `Cors` and `RealIp` are not used: with an empty list `Cors` allows every origin and
//! refuses same-origin requests from unlisted origins, and `RealIp` believes headers any client
//! can send.

pub mod allowed_methods;
pub mod body_limit;
pub mod catch_panic;
pub mod client_address;
pub mod client_ip;
pub mod connections;
pub mod cors;
pub mod error;
pub mod origin_check;
pub mod ratelimit;
pub mod request_context;
pub mod security_headers;

use std::future::Future;

use poem::{
    endpoint::BoxEndpoint, http::Method, middleware::CookieJarManager, Endpoint, EndpointExt,
    Middleware, Request, Response,
};

pub use allowed_methods::{AllowHeader, AllowedMethods};
pub use body_limit::{BodyLimit, MAX_BODY_BYTES};
pub use catch_panic::CatchPanicAsJson;
pub use client_address::{ClientAddress, ResolveClientAddress};
pub use client_ip::ClientIpResolver;
pub use cors::Cors;
pub use origin_check::OriginCheck;
pub use ratelimit::{Policy, RateLimit, RateLimiter, SharedCounts};
pub use request_context::{RequestContext, RouteLabels, REQUEST_ID_HEADER};
pub use security_headers::SecurityHeaders;

/// What one middleware of this layer does around the endpoint inside it. Each middleware type
/// implements it beside its configuration; [`Layered`] makes it a poem `Middleware`.
pub trait Around: Clone + Send + Sync + 'static {
    fn around<E: Endpoint>(
        &self,
        inner: &E,
        req: Request,
    ) -> impl Future<Output = poem::Result<Response>> + Send;
}

/// An endpoint wrapped in one middleware, which holds its own copy of the configuration.
pub struct Layered<E, M> {
    inner: E,
    middleware: M,
}

impl<E: Endpoint, M: Around> Endpoint for Layered<E, M> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.middleware.around(&self.inner, req).await
    }
}

/// `impl Middleware` for each [`Around`] type (a blanket impl of poem's trait is not allowed).
macro_rules! middleware {
    ($($name:ty),+) => {$(
        impl<E: Endpoint> Middleware<E> for $name {
            type Output = Layered<E, $name>;

            fn transform(&self, inner: E) -> Self::Output {
                Layered { inner, middleware: self.clone() }
            }
        }
    )+};
}

middleware!(
    ResolveClientAddress,
    RequestContext,
    SecurityHeaders,
    Cors,
    AllowHeader,
    OriginCheck,
    RateLimit,
    BodyLimit
);

/// The middleware around every route, each with its configuration.
pub struct Middlewares {
    pub client_address: ResolveClientAddress,
    pub request_context: RequestContext,
    pub security_headers: SecurityHeaders,
    pub cors: Cors,
    pub allow_header: AllowHeader,
    pub origin_check: OriginCheck,
    pub rate_limit: RateLimit,
    pub body_limit: BodyLimit,
}

impl Middlewares {
    /// Wraps the routes, innermost first:
    /// - body limit: the body is read, within its limits, only for requests that got this far;
    /// - rate limit: before the body is read, so a refused client cannot make us read 16 KiB;
    /// - origin check (needs the cookie jar just outside it): before anything counts or reads;
    /// - cookie jar, then panics and every other error (unknown route, bad body) become JSON;
    /// - `Allow` on the 405s that routing and the error rendering produced;
    /// - CORS: answers preflights, and marks every answer (errors included);
    /// - security headers on every answer, preflights and errors included;
    /// - request context: one id, span, log line and metric for every answer;
    /// - client address, outermost: every layer inside uses it.
    ///
    /// Each layer is boxed: the nested types otherwise grow past the compiler's query depth.
    pub fn wrap(self, routes: impl Endpoint + 'static) -> BoxEndpoint<'static> {
        let inner = routes
            .with(self.body_limit)
            .boxed()
            .with(self.rate_limit)
            .boxed()
            .with(self.origin_check)
            .with(CookieJarManager::new())
            .with(CatchPanicAsJson)
            .catch_all_error(error::render_any_error)
            .boxed();
        inner
            .with(self.allow_header)
            .boxed()
            .with(self.cors)
            .boxed()
            .with(self.security_headers)
            .boxed()
            .with(self.request_context)
            .boxed()
            .with(self.client_address)
            .boxed()
    }
}

/// Whether a request may change state (everything but GET, HEAD and OPTIONS): what the origin
/// check, the body limit and the CSRF check apply to.
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
