//! Pure rules: EIP-4361 messages and signatures, session tokens. No I/O, no HTTP.

pub mod forward_auth;
pub mod siwe;
pub mod token;
