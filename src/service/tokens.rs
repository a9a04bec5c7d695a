//! Short-lived JWTs for other services (who is signed in, for which audience) and the keys
//! that verify them.

use super::{Authenticated, Service};
use crate::error::{AppError, AppResult};

/// The claims of a short-lived token.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub addr: String,
    pub wallets: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
}

impl Service {
    /// A signed JWT for another service: who is signed in, for `audience` (one of the allowed
    /// values; the first by default). Returns the token and its expiry (Unix seconds).
    pub fn issue_token(
        &self,
        current: &Authenticated,
        audience: Option<String>,
    ) -> AppResult<(String, i64)> {
        let aud = match audience {
            None => self.token_audiences.first().cloned().unwrap_or_default(),
            Some(aud) if self.token_audiences.contains(&aud) => aud,
            Some(_) => {
                return Err(AppError::new(
                    crate::error::ErrorCode::InvalidAudience,
                    format!(
                        "The audience must be one of {:?} (tokens.audiences).",
                        self.token_audiences
                    ),
                ))
            }
        };
        let iat = self.clock.now().unix_timestamp();
        let exp = iat + self.token_ttl.whole_seconds();
        let claims = TokenClaims {
            sub: current.account.user.id.to_string(),
            addr: current.session.address.to_string(),
            wallets: current
                .account
                .wallets
                .iter()
                .map(|w| w.address.to_string())
                .collect(),
            iat,
            exp,
            iss: self.identity.origin.clone(),
            aud,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        Ok((self.jwt.sign(&claims)?, exp))
    }

    /// The public keys that verify tokens, as a JWK Set.
    pub fn jwks(&self) -> AppResult<serde_json::Value> {
        self.jwt.jwks()
    }
}
