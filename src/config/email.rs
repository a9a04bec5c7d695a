//! `[email]`: the SMTP server for emailed links, and what those links may do.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::Secret;

/// How to reach the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the start (port 465).
    Tls,
    /// No encryption: only for a relay on the same host.
    None,
}

/// Outgoing email; off unless `smtp_host` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<Secret>,
    /// The From header, e.g. "Sign-in <login@example.org>".
    pub from: String,
    /// How long links sent by email work, in seconds.
    pub link_ttl_secs: u64,
    /// Let a new wallet join an account through a link mailed to the account's verified
    /// address: account recovery by mailbox, off by default.
    pub wallet_attach: bool,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: None,
            smtp_password: None,
            from: "siwe-server <noreply@localhost>".into(),
            link_ttl_secs: 3600,
            wallet_attach: false,
        }
    }
}

impl EmailSettings {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.smtp_host.is_some() {
            self.from
                .parse::<lettre::message::Mailbox>()
                .with_context(|| format!("email.from {:?} must be an address such as \"Sign-in <login@example.org>\"", self.from))?;
            if self.smtp_username.is_some() != self.smtp_password.is_some() {
                bail!("email.smtp_username and email.smtp_password go together");
            }
        }
        if self.link_ttl_secs == 0 {
            bail!("email.link_ttl_secs must be at least 1");
        }
        Ok(())
    }
}
