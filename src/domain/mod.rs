//! Pure rules and the product's nouns: EIP-4361 messages and signatures, addresses, session
//! tokens, and the accounts, wallets, sessions, email links and security events the service
//! works with (`db/` maps rows to them). No I/O, no HTTP, no SQL.

pub mod account;
pub mod address;
pub mod device;
pub mod email_link;
pub mod ens;
pub mod event;
pub mod forward_auth;
pub mod id;
pub mod oidc;
pub mod pairing;
pub mod session;
pub mod signing_alg;
pub mod siwe;
pub mod theme;
pub mod token;
