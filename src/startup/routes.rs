//! The routes and the middleware around them.

use std::sync::{Arc, OnceLock};

use poem::{
    endpoint::{make_sync, BoxEndpoint, EmbeddedFileEndpoint, EmbeddedFilesEndpoint},
    get, Endpoint, EndpointExt, IntoEndpoint, Request, Response, Route,
};

use crate::{
    api::{self, AppState},
    assets::Assets,
    config::Settings,
    http::{
        AllowHeader, AllowedMethods, BodyLimit, Cors, Middlewares, OriginCheck, RateLimit,
        RateLimiter, RequestContext, ResolveClientAddress, SecurityHeaders,
    },
    metrics::MetricsGate,
};

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

/// The middleware around the routes, each with its part of the settings.
pub(super) fn middlewares(
    settings: &Settings,
    state: &AppState,
    limiter: Arc<RateLimiter>,
) -> Middlewares {
    let allowed_methods = Arc::new(AllowedMethods::from_spec(api::spec_json()));
    Middlewares {
        client_address: ResolveClientAddress::new(state.client_ip.clone()),
        request_context: RequestContext::new(Arc::clone(&allowed_methods)),
        security_headers: SecurityHeaders::new(settings, || api::service().swagger_ui_html()),
        cors: Cors::new(settings.allowed_origins().into_iter().skip(1).collect()),
        allow_header: AllowHeader::new(allowed_methods),
        origin_check: OriginCheck::new(state.cookie.name(), settings.allowed_origins()),
        rate_limit: RateLimit::new(limiter),
        body_limit: BodyLimit::default(),
    }
}

pub(super) fn routes(metrics: MetricsGate) -> Route {
    let api = api::service();
    let spec_json = api::spec_json();
    // The OpenAPI service routes by its own full paths, so it gets them unstripped.
    let api = Arc::new(api.into_endpoint());
    let routes = Route::new()
        .nest_no_strip("/api", Arc::clone(&api))
        .at("/healthz", Arc::clone(&api))
        .at("/.well-known/jwks.json", Arc::clone(&api))
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
        .at("/", EmbeddedFileEndpoint::<Assets>::new("login.html"))
        .at("/login", EmbeddedFileEndpoint::<Assets>::new("login.html"))
        .at(
            "/account",
            EmbeddedFileEndpoint::<Assets>::new("account.html"),
        )
        .nest("/assets", EmbeddedFilesEndpoint::<Assets>::new())
        // Routed even when closed (404 from the handler), so other methods get 405 like on
        // every documented path.
        .at("/metrics", api.data(metrics));
    routes
}
