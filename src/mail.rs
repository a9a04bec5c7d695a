//! Outgoing email over SMTP (lettre), when `[email]` is configured.

use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::authentication::Credentials,
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use crate::{
    config::{Email, SmtpTls},
    error::{AppError, AppResult, ErrorCode},
};

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `None` when no SMTP host is configured.
    pub fn from_settings(email: &Email) -> anyhow::Result<Option<Self>> {
        let Some(smtp) = &email.smtp else {
            return Ok(None);
        };
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
        Ok(Some(Self {
            transport: builder.build(),
            from: smtp.from.clone(),
        }))
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
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| unavailable(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(())
    }
}

/// A plausible email address (the syntax lettre accepts), at most 254 characters.
pub fn is_valid_email(email: &str) -> bool {
    email.len() <= 254 && email.parse::<lettre::Address>().is_ok()
}
