//! Refreshing (RFC 6749 section 6): a refresh token is spent for a new one of the same grant
//! and fresh tokens; presented again after its rotation, it revokes its whole family (the
//! grant). Only with `offline_access`, which the client must still be allowed.

use super::{
    token::{account, invalid_grant, record_replay, refresh_token_mac, Allowed},
    Oidc,
};
use crate::{
    db::oidc as store,
    domain::{
        event::EventKind,
        oidc::{
            client::Client,
            grant::Redeemed,
            scope::{Scope, Scopes},
        },
        token::random_secret,
    },
    error::{AppError, AppResult, ErrorCode},
    service::ClientInfo,
};

impl Oidc {
    /// Spends a refresh token (RFC 6749 section 6) for a new one of the same grant; one
    /// presented again after its rotation revokes the grant. `scope` may narrow, never widen.
    pub(super) async fn refresh(
        &self,
        client: &Client,
        refresh_token: String,
        scope: Option<String>,
        client_info: ClientInfo,
    ) -> AppResult<Allowed> {
        let mac = refresh_token_mac(self, &client.id, &refresh_token);
        let now = self.clock().now_ms();
        let client = client.clone();
        let next_token = random_secret();
        let next_mac = refresh_token_mac(self, &client.id, &next_token);
        let outcome = self
            .db()
            .write(move |conn| -> AppResult<AppResult<Allowed>> {
                let grant = match store::redeem_refresh_token(conn, &mac, now)? {
                    Redeemed::Fresh(grant) => grant,
                    Redeemed::Unknown => {
                        return Ok(Err(invalid_grant(
                            "The refresh token is unknown, expired or revoked.",
                        )))
                    }
                    Redeemed::Replayed { grant_id } => {
                        record_replay(conn, now, grant_id, EventKind::OidcRefreshReuse, &client_info)?;
                        return Ok(Err(invalid_grant(
                            "The refresh token was used before; its whole family is revoked.",
                        )));
                    }
                };
                if grant.client_id != client.id || !client.scopes.contains(Scope::OfflineAccess) {
                    return Ok(Err(invalid_grant(
                        "The refresh token was not issued to this client, or the client may no longer refresh.",
                    )));
                }
                let scopes = match scope.as_deref() {
                    None => grant.scopes.clone(),
                    Some(asked) => {
                        let asked = Scopes::parse_known(asked)
                            .union(&[Scope::OpenId].into_iter().collect());
                        if !grant.scopes.covers(&asked) {
                            return Ok(Err(AppError::new(
                                ErrorCode::InvalidScope,
                                "A refresh may narrow the scopes granted, never widen them.",
                            )));
                        }
                        asked
                    }
                };
                let Some((user, wallets)) = account(conn, &grant.user_id)? else {
                    return Ok(Err(invalid_grant("The account of this grant no longer exists.")));
                };
                store::insert_refresh_token(conn, &next_mac, &grant.id, now, grant.expires_at)?;
                Ok(Ok(Allowed {
                    grant,
                    user,
                    wallets,
                    scopes,
                    nonce: None,
                    refresh_token: Some(next_token),
                }))
            })
            .await?;
        outcome
    }
}
