//! What this server accepts in a signed message: its domain, URI, chain and times, against the
//! settings and the clock's "now" (which the caller passes in). Pure.

use time::{Duration, OffsetDateTime};
use url::Url;

use super::{verify_signature, Message, SiweMessage};
use crate::error::{AppError, AppResult, ErrorCode};

/// What this server accepts in a message, derived once from the settings.
#[derive(Debug, Clone)]
pub struct SiwePolicy {
    /// Lowercase host[:port] values a message's domain may be.
    pub domains: Vec<String>,
    /// Origins (scheme://host[:port]) a message's URI may have.
    pub uri_origins: Vec<url::Origin>,
    /// Empty means any chain.
    pub chain_ids: Vec<u64>,
    pub nonce_ttl: Duration,
    pub clock_skew: Duration,
    /// The longest signature read (`siwe.max_signature_bytes`): a key's is 65 bytes, a wallet
    /// contract's may be longer.
    pub max_signature_bytes: usize,
}

impl SiwePolicy {
    /// Everything about a parsed message except its nonce: binding, time window, signature.
    /// The signature goes last, as it is the costly check.
    pub fn check(
        &self,
        parsed: &SiweMessage,
        text: &str,
        signature: &[u8],
        now: OffsetDateTime,
    ) -> AppResult<()> {
        self.check_unsigned(parsed, now)?;
        verify_signature(&parsed.message, text, signature)
    }

    /// What [`SiwePolicy::check`] checks but the signature and the nonce: binding and times.
    /// Kept apart so that a refusal can be told from a message its signer never signed.
    pub fn check_unsigned(&self, parsed: &SiweMessage, now: OffsetDateTime) -> AppResult<()> {
        self.check_binding(parsed)?;
        check_validity_window(&parsed.message, now, self.clock_skew)?;
        self.check_issued_at(&parsed.message, now)
    }

    /// Domain (and scheme, when the message has one), URI origin and chain.
    pub fn check_binding(&self, parsed: &SiweMessage) -> AppResult<()> {
        let message = &parsed.message;
        let domain = parsed.domain.to_ascii_lowercase();
        let scheme_ok = parsed.scheme.as_deref().is_none_or(|scheme| {
            self.uri_origins.iter().any(|origin| match origin {
                url::Origin::Tuple(s, _, _) => s.eq_ignore_ascii_case(scheme),
                url::Origin::Opaque(_) => false,
            })
        });
        if !scheme_ok || !self.domains.contains(&domain) {
            return Err(AppError::new(
                ErrorCode::DomainMismatch,
                format!(
                    "The message is for {:?}, which this server does not accept; it accepts {}.",
                    parsed.domain,
                    self.domains.join(", ")
                ),
            ));
        }
        let origin_ok = Url::parse(message.uri.as_str())
            .map(|uri| self.uri_origins.contains(&uri.origin()))
            .unwrap_or(false);
        if !origin_ok {
            return Err(AppError::new(
                ErrorCode::UriMismatch,
                "The message's URI is not on an origin this server accepts.",
            ));
        }
        let chain_stored = i64::try_from(message.chain_id).is_ok();
        if !chain_stored
            || (!self.chain_ids.is_empty() && !self.chain_ids.contains(&message.chain_id))
        {
            return Err(AppError::new(
                ErrorCode::ChainNotAllowed,
                format!(
                    "Chain {} is not allowed here; use one of {:?}.",
                    message.chain_id, self.chain_ids
                ),
            ));
        }
        Ok(())
    }

    /// Issued At may be at most the clock skew ahead, and no older than a nonce lives.
    pub fn check_issued_at(&self, message: &Message, now: OffsetDateTime) -> AppResult<()> {
        let issued_at = *message.issued_at.as_ref();
        if issued_at > now + self.clock_skew {
            return Err(AppError::new(
                ErrorCode::IssuedAtInvalid,
                "The message's Issued At is in the future; check the device's clock.",
            ));
        }
        if issued_at < now - self.nonce_ttl - self.clock_skew {
            return Err(AppError::new(
                ErrorCode::IssuedAtInvalid,
                "The message's Issued At is older than a nonce lives; sign a new message.",
            ));
        }
        Ok(())
    }
}

/// Expiration Time and Not Before against `now`; Not Before tolerates `clock_skew`.
pub fn check_validity_window(
    message: &Message,
    now: OffsetDateTime,
    clock_skew: Duration,
) -> AppResult<()> {
    if let Some(expiration) = &message.expiration_time {
        if *expiration.as_ref() <= now {
            return Err(AppError::new(
                ErrorCode::MessageExpired,
                "The message's Expiration Time has passed; sign a new message.",
            ));
        }
    }
    if let Some(not_before) = &message.not_before {
        if *not_before.as_ref() > now + clock_skew {
            return Err(AppError::new(
                ErrorCode::MessageNotYetValid,
                "The message's Not Before time has not been reached yet.",
            ));
        }
    }
    Ok(())
}
