//! Userinfo (OpenID Connect Core 5.3): the claims an access token's scopes release, read from
//! the account as it is now (wallets linked since sign-in included). An access token is a JWT
//! of ours, so it is checked by its signature and then by its grant, which may have been
//! revoked since.

use super::{token::account, Oidc};
use crate::{
    db::oidc as store,
    domain::oidc::{
        claims::{AccessTokenClaims, UserClaims, ACCESS_TOKEN_TYPE},
        grant::Grant,
        scope::Scopes,
    },
    error::{AppError, AppResult, ErrorCode},
};

pub(super) fn invalid_token() -> AppError {
    AppError::new(
        ErrorCode::InvalidToken,
        "The access token is malformed, expired or revoked, or not one of this server.",
    )
}

/// Whether the JWS header says this is an access token (RFC 9068 section 4: `at+jwt`, with or
/// without the `application/` prefix), so an ID token is never taken for one.
fn is_access_token_type(token: &str) -> bool {
    jsonwebtoken::decode_header(token)
        .ok()
        .and_then(|header| header.typ)
        .is_some_and(|typ| {
            let typ = typ.to_ascii_lowercase();
            typ == ACCESS_TOKEN_TYPE || typ.strip_prefix("application/") == Some(ACCESS_TOKEN_TYPE)
        })
}

impl Oidc {
    /// The claims of an access token this server signed, unexpired, for this issuer. Its grant
    /// is the caller's to check.
    pub(super) fn verify_access_token(&self, token: &str) -> AppResult<AccessTokenClaims> {
        if !is_access_token_type(token) {
            return Err(invalid_token());
        }
        let claims: AccessTokenClaims = self.jwt().verify(token).map_err(|_| invalid_token())?;
        if claims.iss != self.issuer() {
            return Err(invalid_token());
        }
        Ok(claims)
    }

    /// The live grant an access token was issued under.
    pub(super) fn live_grant(
        &self,
        conn: &crate::db::Conn,
        claims: &AccessTokenClaims,
    ) -> AppResult<Option<Grant>> {
        let now = self.clock().now_ms();
        Ok(store::find_grant(conn, &claims.grant)?
            .filter(|grant| grant.is_live(now) && grant.client_id == claims.client_id))
    }

    /// What the access token's scopes release about its account, as the account is now.
    pub async fn userinfo(&self, access_token: &str) -> AppResult<UserClaims> {
        let claims = self.verify_access_token(access_token)?;
        let found = self
            .db()
            .read(|conn| match self.live_grant(conn, &claims)? {
                Some(grant) => account(conn, &grant.user_id),
                None => Ok(None),
            })?;
        let (user, wallets) = found.ok_or_else(invalid_token)?;
        let scopes = Scopes::parse_known(&claims.scope);
        Ok(UserClaims::of(claims.sub, &user, &wallets, &scopes))
    }
}
