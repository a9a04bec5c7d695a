//! The HTTP layer around the routes: request ids and logging, client addresses, security
//! headers, CORS, origin checks, per-IP rate limits and body limits.
//!
//! poem's own `Cors` and `RealIp` are not used: with an empty list `Cors` allows every origin and
//! refuses same-origin requests from unlisted origins, and `RealIp` believes headers any client
//! can send.

mod allowed_methods;
mod body_limit;
mod catch_panic;
pub mod client_ip;
pub mod connections;
mod cors;
pub mod error;
mod origin_check;
pub mod ratelimit;
mod request_context;
mod security_headers;

use std::sync::Arc;

use poem::{endpoint::BoxEndpoint, http::Method, Endpoint, EndpointExt, Request};

pub use allowed_methods::AllowedMethods;
pub use body_limit::MAX_BODY_BYTES;
pub use client_ip::ClientIpResolver;
pub use ratelimit::{Policy, RateLimiter};
pub use request_context::{request_info, RequestInfo, REQUEST_ID_HEADER};
pub use security_headers::SecurityHeaders;

use crate::api::AppState;

/// Everything the HTTP layer needs, built once from the settings.
pub struct HttpPolicy {
    pub client_ip: ClientIpResolver,
    pub limiter: RateLimiter,
    /// Origins that get credentialed CORS answers (`cors.allowed_origins`).
    pub cors_origins: Vec<String>,
    /// Origins whose cookie-authenticated state changes are accepted (public_url's + CORS ones).
    pub trusted_origins: Vec<String>,
    pub headers: SecurityHeaders,
    /// The methods each API path answers, for the `Allow` header of a 405.
    pub allowed_methods: AllowedMethods,
}

/// Wraps the routes in the middleware stack (outermost last). Each layer is boxed: nested
/// `around` types otherwise grow past the compiler's query depth.
pub fn wrap(routes: impl Endpoint + 'static, state: Arc<AppState>) -> BoxEndpoint<'static> {
    use self::{
        allowed_methods::allow_header, body_limit::limit_body, catch_panic::panic_response,
        cors::cors, error::render_any_error, origin_check::check_origin, ratelimit::rate_limit,
        request_context::request_context,
    };
    let inner = routes
        .around(limit_body)
        .map_to_response()
        .boxed()
        .around(rate_limit)
        .map_to_response()
        .boxed()
        .around(check_origin)
        .with(poem::middleware::CookieJarManager::new())
        .with(poem::middleware::CatchPanic::new().with_handler(panic_response))
        .catch_all_error(render_any_error)
        .boxed();
    inner
        .around(allow_header)
        .map_to_response()
        .boxed()
        .around(cors)
        .map_to_response()
        .boxed()
        .around(security_headers::apply)
        .map_to_response()
        .boxed()
        .around(request_context)
        .data(state)
        .map_to_response()
        .boxed()
}

fn state(req: &Request) -> Option<Arc<AppState>> {
    req.data::<Arc<AppState>>().cloned()
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
