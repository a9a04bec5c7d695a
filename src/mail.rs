//! Outgoing email over SMTP (lettre), when `[email]` is configured.

use std::sync::Arc;

use arc_swap::ArcSwap;
use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::authentication::Credentials,
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use crate::{
    config::{Email, Smtp, SmtpTls},
    error::{AppError, AppResult, ErrorCode},
};

/// The SMTP client. Clones share it, and [`Mailer::reload`] replaces it for all of them
/// (`[email]` on SIGHUP); a message being sent finishes on the client it started with.
#[derive(Clone)]
pub struct Mailer {
    client: Arc<ArcSwap<SmtpClient>>,
}

struct SmtpClient {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpClient {
    fn new(smtp: &Smtp) -> anyhow::Result<Self> {
        let host = &smtp.host;
        let mut builder = match smtp.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        }
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(15)));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from: smtp.from.clone(),
        })
    }
}

impl Mailer {
    /// `None` when no SMTP host is configured.
    pub fn from_settings(email: &Email) -> anyhow::Result<Option<Self>> {
        let Some(smtp) = &email.smtp else {
            return Ok(None);
        };
        Ok(Some(Self {
            client: Arc::new(ArcSwap::from_pointee(SmtpClient::new(smtp)?)),
        }))
    }

    /// A client for `smtp`, checked, for [`Mailer::reload`]: a reload builds every part before
    /// it applies any.
    pub fn prepare(smtp: &Smtp) -> anyhow::Result<PreparedSmtp> {
        SmtpClient::new(smtp).map(PreparedSmtp)
    }

    /// Sends the next messages through `prepared`.
    pub fn reload(&self, prepared: PreparedSmtp) {
        self.client.store(Arc::new(prepared.0));
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> AppResult<()> {
        let unavailable = |why: String| {
            tracing::warn!(error = %why, "sending email failed");
            AppError::new(
                ErrorCode::EmailUnavailable,
                "The email could not be sent; try again later.",
            )
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| unavailable(format!("recipient: {e}")))?;
        // One client for the whole message, even if a reload replaces it meanwhile.
        let client = self.client.load_full();
        let message = Message::builder()
            .from(client.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| unavailable(e.to_string()))?;
        client
            .transport
            .send(message)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(())
    }
}

/// An SMTP client built from reloaded settings, not yet in use.
pub struct PreparedSmtp(SmtpClient);

/// A plausible email address (the syntax lettre accepts), at most 254 characters.
pub fn is_valid_email(email: &str) -> bool {
    email.len() <= 254 && email.parse::<lettre::Address>().is_ok()
}
