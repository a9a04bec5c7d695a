//! The routes and the middleware around them. Each group of routes is one function that adds
//! its routes to the `Route` so far; [`app`] lists the groups, so a new group (the OpenID
//! provider's, say) is one line there, plus its pages in [`PAGES`] for the metrics' labels.

use std::sync::{Arc, OnceLock};

use poem::{
    endpoint::{make_sync, BoxEndpoint},
    get, Endpoint, EndpointExt, IntoEndpoint, Request, Response, Route,
};

use crate::{
    api::{self, AppState},
    config::Config,
    http::{
        AllowHeader, AllowedMethods, BodyLimit, Cors, Middlewares, OriginCheck, RateLimit,
        RateLimiter, RequestContext, ResolveClientAddress, RouteLabels, SecurityHeaders,
    },
    metrics::MetricsGate,
};

/// Paths outside the API's spec that are their own label in the metrics.
const PAGES: &[&str] = &[
    "/",
    "/login",
    "/account",
    "/pair",
    "/theme.css",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/openapi.yaml",
    "/docs",
];
/// Folders whose paths are labelled by the folder in the metrics.
const FOLDERS: &[&str] = &["/assets", "/docs", "/pair"];

/// The OpenAPI service as one endpoint, shared by the routes that reach it.
type ApiEndpoint = Arc<BoxEndpoint<'static>>;

/// The main listener's application: every group of routes, the state the handlers reach, and
/// the middleware around them.
pub(super) fn app(
    state: Arc<AppState>,
    middlewares: Middlewares,
    metrics: MetricsGate,
) -> BoxEndpoint<'static> {
    let api: ApiEndpoint = Arc::new(api::service().into_endpoint());
    let routes = Route::new();
    let routes = api_routes(routes, &api);
    let routes = metrics_route(routes, &api, metrics);
    let routes = spec_and_docs(routes);
    let routes = pages(routes);
    middlewares.wrap(routes.data(state))
}

/// The separate metrics listener (`metrics.bind`): /metrics only, open, without the middleware.
pub(super) fn metrics_app(state: Arc<AppState>) -> impl Endpoint {
    let api: ApiEndpoint = Arc::new(api::service().into_endpoint());
    metrics_route(Route::new(), &api, MetricsGate::Open).data(state)
}

/// The API's operations. The OpenAPI service routes by its own full paths, so it gets them
/// unstripped.
fn api_routes(routes: Route, api: &ApiEndpoint) -> Route {
    routes
        .nest_no_strip("/api", Arc::clone(api))
        .at("/healthz", Arc::clone(api))
        .at("/.well-known/jwks.json", Arc::clone(api))
        .at("/.well-known/openid-configuration", Arc::clone(api))
        .nest_no_strip("/oidc", Arc::clone(api))
        .nest_no_strip("/ui", Arc::clone(api))
}

/// /metrics, behind `gate`. Routed even when closed (404 from the handler), so other methods
/// get 405 like on every documented path.
fn metrics_route(routes: Route, api: &ApiEndpoint, gate: MetricsGate) -> Route {
    routes.at("/metrics", Arc::clone(api).data(gate))
}

/// The OpenAPI document (JSON, YAML) and Swagger UI.
fn spec_and_docs(routes: Route) -> Route {
    let spec_json = api::spec_json();
    routes
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json; charset=utf-8")
                    .body(spec_json)
            })),
        )
        .at(
            "/openapi.yaml",
            BuiltOnFirstUse::new(|| {
                api::service()
                    .spec_endpoint_yaml()
                    .map_to_response()
                    .boxed()
            }),
        )
        .nest(
            "/docs",
            BuiltOnFirstUse::new(|| api::service().swagger_ui().map_to_response().boxed()),
        )
}

/// The built-in pages and their assets.
fn pages(routes: Route) -> Route {
    routes
        .at("/", get(api::pages::login))
        .at("/login", get(api::pages::login))
        .at("/account", get(api::pages::account))
        .at("/pair", get(api::pages::pair))
        .at("/pair/:id", get(api::pages::pair))
        .at("/theme.css", get(api::ui::theme))
        .nest("/assets", api::pages::assets())
}

/// The middleware around the routes, each with its part of the settings.
pub(super) fn middlewares(
    config: &Config,
    state: &AppState,
    limiter: Arc<RateLimiter>,
) -> Middlewares {
    let allowed_methods = Arc::new(AllowedMethods::from_spec(api::spec_json()));
    Middlewares {
        client_address: ResolveClientAddress::new(state.client_ip.clone()),
        request_context: RequestContext::new(RouteLabels {
            api: Arc::clone(&allowed_methods),
            pages: PAGES,
            folders: FOLDERS,
        }),
        security_headers: SecurityHeaders::new(
            &config.security,
            config.server.public_url.scheme() == "https",
            || api::service().swagger_ui_html(),
        ),
        cors: Cors::new(config.cors.allowed_origins.clone()),
        allow_header: AllowHeader::new(allowed_methods),
        origin_check: OriginCheck::new(state.cookie.name(), config.trusted_origins()),
        rate_limit: RateLimit::new(limiter),
        body_limit: BodyLimit::admitting_signatures(config.siwe.max_signature_bytes),
    }
}

/// An endpoint made on its first request. The docs' endpoints hold megabytes (Swagger UI's page
/// with the spec inline, the YAML spec) that most servers rarely serve; made at start-up, they
/// would count in the memory of every idle server.
struct BuiltOnFirstUse {
    build: fn() -> BoxEndpoint<'static, Response>,
    built: OnceLock<BoxEndpoint<'static, Response>>,
}

impl BuiltOnFirstUse {
    fn new(build: fn() -> BoxEndpoint<'static, Response>) -> Self {
        Self {
            build,
            built: OnceLock::new(),
        }
    }
}

impl Endpoint for BuiltOnFirstUse {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.built.get_or_init(self.build).call(req).await
    }
}
