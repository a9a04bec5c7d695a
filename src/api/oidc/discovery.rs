//! `/.well-known/openid-configuration`: the provider's metadata (OpenID Connect Discovery 1.0,
//! with RFC 8414's revocation and introspection fields and RFC 9207's `iss` flag). The same
//! for every request of a deployment, so public and cacheable.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{payload::Json, ApiResponse, Object, OpenApi};

use crate::{
    api::{ApiTags, AppState},
    domain::{
        oidc::{claims, scope::Scope},
        signing_alg::SigningAlg,
    },
};

/// How long relying parties may cache the document: it changes only with the deployment.
const CACHE_CONTROL: &str = "public, max-age=3600";

/// The client authentication methods of the token and revocation endpoints; `none` is for
/// public clients only.
const CLIENT_AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// The provider's metadata (OpenID Connect Discovery 1.0 section 3).
#[derive(Debug, Clone, Object)]
pub struct ProviderMetadata {
    /// `server.public_url` exactly: the `iss` of every token.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
    /// RP-initiated logout 1.0.
    pub end_session_endpoint: String,
    /// RFC 7009.
    pub revocation_endpoint: String,
    /// RFC 7662.
    pub introspection_endpoint: String,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub response_modes_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub claims_supported: Vec<String>,
    /// RFC 9207: authorization responses carry `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items.into_iter().map(str::to_string).collect()
}

impl ProviderMetadata {
    fn of(issuer: &str) -> Self {
        let at = |path: &str| format!("{issuer}{path}");
        Self {
            issuer: issuer.to_string(),
            authorization_endpoint: at("/oidc/authorize"),
            token_endpoint: at("/oidc/token"),
            userinfo_endpoint: at("/oidc/userinfo"),
            jwks_uri: at("/.well-known/jwks.json"),
            end_session_endpoint: at("/oidc/logout"),
            revocation_endpoint: at("/oidc/revoke"),
            introspection_endpoint: at("/oidc/introspect"),
            scopes_supported: strings(Scope::ALL.map(Scope::as_str)),
            response_types_supported: strings(["code"]),
            response_modes_supported: strings(["query"]),
            grant_types_supported: strings(["authorization_code", "refresh_token"]),
            subject_types_supported: strings(["public", "pairwise"]),
            // RS256 first: Discovery requires it, and it is the default for ID tokens.
            id_token_signing_alg_values_supported: strings([
                SigningAlg::Rs256.as_str(),
                SigningAlg::EdDsa.as_str(),
            ]),
            token_endpoint_auth_methods_supported: strings(CLIENT_AUTH_METHODS),
            revocation_endpoint_auth_methods_supported: strings(CLIENT_AUTH_METHODS),
            // A resource server asking about tokens must say who it is.
            introspection_endpoint_auth_methods_supported: strings(
                CLIENT_AUTH_METHODS[..2].iter().copied(),
            ),
            code_challenge_methods_supported: strings(["S256"]),
            claims_supported: strings(claims::CLAIMS_SUPPORTED),
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
        }
    }
}

#[derive(ApiResponse)]
pub enum DiscoveryResponse {
    /// The provider's metadata.
    #[oai(status = 200)]
    Ok(
        Json<ProviderMetadata>,
        #[oai(header = "Cache-Control")] String,
    ),
}

pub struct DiscoveryApi;

#[OpenApi(tag = "ApiTags::OpenIdConnect")]
impl DiscoveryApi {
    /// OpenID Provider metadata
    ///
    /// What a relying party needs to use this server as its OpenID Provider (OpenID Connect
    /// Discovery 1.0): the endpoints, the supported scopes, claims, algorithms and client
    /// authentication methods. `issuer` is `server.public_url` exactly.
    #[oai(
        path = "/.well-known/openid-configuration",
        method = "get",
        operation_id = "getOpenIdConfiguration"
    )]
    async fn openid_configuration(&self, state: Data<&Arc<AppState>>) -> DiscoveryResponse {
        DiscoveryResponse::Ok(
            Json(ProviderMetadata::of(state.oidc.issuer())),
            CACHE_CONTROL.into(),
        )
    }
}
