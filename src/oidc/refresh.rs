//! Refreshing (RFC 6749 section 6): a refresh token is spent for a new one of the same grant
//! and fresh tokens; presented again after its rotation, it revokes its whole family (the
//! grant). Only with `offline_access`, which the client must still be allowed.

use super::{
    token::{account, fresh, invalid_grant, refresh_token_mac, Allowed},
    Oidc,
};
use crate::{
    db::{oidc as store, Conn},
    domain::{
        event::EventKind,
        oidc::{
            client::Client,
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
        let next_token = random_secret();
        let refresh = Refresh {
            mac: refresh_token_mac(self, &client.id, &refresh_token),
            client: client.clone(),
            scope,
            client_info,
            now: self.clock().now_ms(),
            next_mac: refresh_token_mac(self, &client.id, &next_token),
            next_token,
        };
        // The writer commits what a refusal did too (the token spent, a reuse's revocation).
        self.db()
            .write(move |conn| spend_refresh_token(conn, refresh.clone()))
            .await?
    }
}

/// What a refresh takes into the writer.
#[derive(Clone)]
struct Refresh {
    mac: [u8; 32],
    client: Client,
    scope: Option<String>,
    client_info: ClientInfo,
    now: i64,
    /// The next refresh token of the family, made before the transaction.
    next_token: String,
    next_mac: [u8; 32],
}

/// Spends the refresh token and stores the next one, in the writer's transaction; a refusal
/// is the inner `Err`, so that what it did is committed.
fn spend_refresh_token(conn: &Conn, x: Refresh) -> AppResult<AppResult<Allowed>> {
    let redeemed = store::redeem_refresh_token(conn, &x.mac, x.now)?;
    let grant = match fresh(
        conn,
        redeemed,
        x.now,
        EventKind::OidcRefreshReuse,
        &x.client_info,
    )? {
        Ok(grant) => grant,
        Err(refused) => return Ok(Err(refused)),
    };
    if grant.client_id != x.client.id || !x.client.scopes.contains(Scope::OfflineAccess) {
        return Ok(Err(invalid_grant(
            "The refresh token is another client's, or this client may no longer refresh.",
        )));
    }
    let scopes = match x.scope.as_deref() {
        None => grant.scopes.clone(),
        Some(asked) => {
            let asked = Scopes::parse_known(asked).union(&[Scope::OpenId].into_iter().collect());
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
        return Ok(Err(invalid_grant(
            "The account of this grant no longer exists.",
        )));
    };
    store::insert_refresh_token(conn, &x.next_mac, &grant.id, x.now, grant.expires_at)?;
    Ok(Ok(Allowed {
        grant,
        user,
        wallets,
        scopes,
        nonce: None,
        refresh_token: Some(x.next_token),
    }))
}
