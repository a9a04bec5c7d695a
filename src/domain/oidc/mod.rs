//! OpenID Connect's pure rules: scopes, PKCE, clients, authorization requests, grants and the
//! claims of ID tokens, access tokens and userinfo. No I/O: `db/oidc.rs` stores these, `oidc/`
//! decides with them.

pub mod claims;
pub mod client;
pub mod grant;
pub mod pkce;
pub mod request;
pub mod scope;
