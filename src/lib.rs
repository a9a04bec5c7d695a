#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
//! siwe-server: Sign-In with Ethereum (EIP-4361) in one binary.

pub mod api;
pub mod assets;
pub mod chains;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod files;
pub mod http;
pub mod i18n;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod pairing;
pub mod service;
pub mod startup;
pub mod telemetry;

pub use config::Settings;
pub use startup::{open_service, Application};
