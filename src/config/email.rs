//! `[email]`: the SMTP server for emailed links, and what those links may do.

use std::time::Duration;

use anyhow::{bail, Context};
use lettre::message::Mailbox;
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

/// `[email]`, checked: the SMTP server when one is set, with its From address parsed.
#[derive(Debug, Clone)]
pub struct Email {
    pub smtp: Option<Smtp>,
    pub link_ttl: Duration,
    pub wallet_attach: bool,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password; both or neither.
    pub credentials: Option<(String, Secret)>,
    pub from: Mailbox,
}

impl EmailSettings {
    pub fn validate(&self) -> anyhow::Result<Email> {
        let smtp = match &self.smtp_host {
            Some(host) => {
                let from = self.from.parse::<Mailbox>().with_context(|| {
                    format!(
                        "email.from {:?} must be an address such as \"Sign-in <login@example.org>\"",
                        self.from
                    )
                })?;
                let credentials = match (&self.smtp_username, &self.smtp_password) {
                    (Some(user), Some(password)) => Some((user.clone(), password.clone())),
                    (None, None) => None,
                    _ => bail!("email.smtp_username and email.smtp_password go together"),
                };
                Some(Smtp {
                    host: host.clone(),
                    port: self.smtp_port,
                    tls: self.smtp_tls,
                    credentials,
                    from,
                })
            }
            None => None,
        };
        if self.link_ttl_secs == 0 {
            bail!("email.link_ttl_secs must be at least 1");
        }
        Ok(Email {
            smtp,
            link_ttl: Duration::from_secs(self.link_ttl_secs),
            wallet_attach: self.wallet_attach,
        })
    }
}
