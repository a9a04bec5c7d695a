//! The key material the server holds, and its files in the data folder: the server secret
//! (from which the token, CSRF and nonce MAC keys of `domain::token` are derived) and the JWT
//! signing keys with their rotation, one file per algorithm (`ed25519.rs`, `rsa.rs`). Depends on
//! `clock`, `config` (the secret's setting type), `domain` and `error` only; never on the
//! service, the database or HTTP.

mod ed25519;
pub mod jwt;
mod rsa;
pub mod secret;

pub use crate::domain::signing_alg::SigningAlg;
pub use jwt::JwtKeys;
