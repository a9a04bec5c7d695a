//! Token introspection (RFC 7662) for resource servers, and revocation (RFC 7009). Both are
//! client-authenticated. An access token is a JWT naming its grant; a refresh token is found
//! by its MAC, which is bound to its client, so no client can see or end another's refresh
//! tokens. Revoking either ends the whole grant.

use super::{clients::ClientCredentials, token::refresh_token_mac, Oidc};
use crate::{
    db::oidc as store,
    domain::oidc::{claims, client::SubjectType},
    error::{AppError, AppResult, ErrorCode},
};

/// What an active token is (RFC 7662 section 2.2); times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub scope: String,
    pub client_id: String,
    pub sub: String,
    pub exp: i64,
    /// Unknown for a refresh token (its grant's start is not its own).
    pub iat: Option<i64>,
    pub iss: String,
    /// `Bearer` for an access token, `refresh_token` for a refresh token.
    pub token_type: &'static str,
    pub aud: String,
}

/// A JWT has three dot-separated parts; refresh tokens have none.
fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

impl Oidc {
    /// Whether `token` is a live access token of this server or a live refresh token of the
    /// calling client, and what it allows. Public clients may not ask.
    pub async fn introspect(
        &self,
        credentials: ClientCredentials,
        token: &str,
    ) -> AppResult<Option<ActiveToken>> {
        let client = self.authenticate_client(credentials).await?;
        if client.is_public() {
            return Err(AppError::new(
                ErrorCode::InvalidClient,
                "Introspection is for confidential clients: authenticate with the client secret.",
            ));
        }
        if looks_like_jwt(token) {
            let Ok(access) = self.verify_access_token(token) else {
                return Ok(None);
            };
            if self
                .db()
                .read(|conn| self.live_grant(conn, &access))?
                .is_none()
            {
                return Ok(None);
            }
            return Ok(Some(ActiveToken {
                scope: access.scope,
                client_id: access.client_id,
                sub: access.sub,
                exp: access.exp,
                iat: Some(access.iat),
                iss: access.iss,
                token_type: "Bearer",
                aud: access.aud,
            }));
        }
        let mac = refresh_token_mac(self, &client.id, token);
        let now = self.clock().now_ms();
        let Some(grant) = self
            .db()
            .read(|conn| store::find_refresh_token_grant(conn, &mac, now))?
        else {
            return Ok(None);
        };
        let sub = claims::subject(
            self.keys(),
            client.subject == SubjectType::Pairwise,
            &client.id,
            &grant.user_id,
        );
        Ok(Some(ActiveToken {
            scope: grant.scopes.to_string(),
            client_id: client.id.clone(),
            sub,
            exp: grant.expires_at / 1000,
            iat: None,
            iss: self.issuer().to_string(),
            token_type: "refresh_token",
            aud: client.id,
        }))
    }

    /// Revokes the grant of a refresh token or access token the calling client holds; a token
    /// that is unknown, expired, or another client's changes nothing and is no error (RFC 7009
    /// section 2.2).
    pub async fn revoke(&self, credentials: ClientCredentials, token: &str) -> AppResult<()> {
        let client = self.authenticate_client(credentials).await?;
        let now = self.clock().now_ms();
        if looks_like_jwt(token) {
            if let Ok(access) = self.verify_access_token(token) {
                if access.client_id == client.id {
                    self.db()
                        .write(move |conn| store::revoke_grant(conn, &access.grant, now))
                        .await?;
                }
            }
            return Ok(());
        }
        let mac = refresh_token_mac(self, &client.id, token);
        self.db()
            .write(move |conn| {
                if let Some(grant) = store::find_refresh_token_grant(conn, &mac, now)? {
                    store::revoke_grant(conn, &grant.id, now)?;
                }
                Ok(())
            })
            .await
    }
}
