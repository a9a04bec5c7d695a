//! The key material the server holds, and its files in the data folder.

pub mod jwt;

pub use jwt::JwtKeys;
