//! The OpenID Connect provider's endpoints: thin handlers over `crate::oidc`. Its errors follow
//! RFC 6749 (`error`, `error_description`) and also carry this API's `message`.

pub mod authorize;
mod browser;
pub mod discovery;
pub mod logout;
pub mod oauth;
mod pages;
pub mod token;
pub mod userinfo;
