//! The key material the server holds, and its files in the data folder: the server secret
//! (from which the token, CSRF and nonce MAC keys of `domain::token` are derived) and the JWT
//! signing keys with their rotation, one file per algorithm (`ed25519.rs`, `rsa.rs`), kept in
//! the data folder or, with PostgreSQL, in the database (`jwt/store.rs`). Depends on `clock`,
//! `config` (the secret's setting type), `domain`, `error` and, for that shared key set, `db`;
//! never on the service or HTTP.

mod ed25519;
pub mod jwt;
mod rsa;
pub mod secret;

pub use crate::domain::signing_alg::SigningAlg;
pub use jwt::{JwtKeys, KeyStore};
