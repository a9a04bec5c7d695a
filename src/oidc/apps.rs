//! The account's connected apps: what each OpenID Connect app was allowed (the remembered
//! consent) and still holds (live grants), and revoking one: the consent is forgotten and its
//! grants end, so its refresh tokens and access tokens stop working.

use std::collections::BTreeMap;

use super::Oidc;
use crate::{
    db,
    domain::{event::EventKind, oidc::scope::Scopes},
    error::{AppError, AppResult, ErrorCode},
    service::{record_event, Authenticated, ClientInfo},
};

/// An app the account has let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    /// The client's name; its id when the client has been removed since.
    pub name: String,
    /// What it was allowed and holds.
    pub scopes: Scopes,
    /// The latest consent or grant, unix ms.
    pub granted_at: i64,
    /// Whether it holds a refresh token that works (it can come back without the person).
    pub has_refresh_token: bool,
}

impl Oidc {
    /// The account's connected apps, most recently granted first.
    pub async fn connected_apps(&self, current: &Authenticated) -> AppResult<Vec<ConnectedApp>> {
        let user_id = &current.account.user.id;
        let now = self.clock().now_ms();
        let (consents, grants) = self.db().read(|conn| {
            Ok((
                db::oidc::consents_of(conn, user_id)?,
                db::oidc::live_grants_of(conn, user_id, now)?,
            ))
        })?;
        let mut apps: BTreeMap<String, ConnectedApp> = BTreeMap::new();
        let mut add = |client_id: String, scopes: &Scopes, at: i64, refresh: bool| {
            let app = apps
                .entry(client_id.clone())
                .or_insert_with(|| ConnectedApp {
                    name: client_id.clone(),
                    client_id,
                    scopes: Scopes::default(),
                    granted_at: at,
                    has_refresh_token: false,
                });
            app.scopes = app.scopes.union(scopes);
            app.granted_at = app.granted_at.max(at);
            app.has_refresh_token |= refresh;
        };
        for consent in consents {
            add(
                consent.client_id,
                &consent.scopes,
                consent.granted_at,
                false,
            );
        }
        for live in grants {
            add(
                live.client_id,
                &live.scopes,
                live.last_created_at,
                live.has_refresh_token,
            );
        }
        let mut apps: Vec<ConnectedApp> = apps.into_values().collect();
        for app in &mut apps {
            if let Some(client) = self.client(&app.client_id).await? {
                app.name = client.name;
            }
        }
        apps.sort_by_key(|app| std::cmp::Reverse(app.granted_at));
        Ok(apps)
    }

    /// Forgets the account's consent to the app and ends its grants; `app_not_found` when it
    /// has neither.
    pub async fn revoke_app(
        &self,
        current: &Authenticated,
        client_id: &str,
        client: ClientInfo,
    ) -> AppResult<()> {
        let user_id = current.account.user.id.clone();
        let client_id = client_id.to_string();
        let clock = self.clock().clone();
        self.db()
            .write(move |conn| {
                let now = clock.now_ms();
                let forgotten = db::oidc::delete_consent(conn, &user_id, &client_id)?;
                let ended = db::oidc::revoke_grants_of(conn, &user_id, &client_id, now)?;
                if !forgotten && ended == 0 {
                    return Err(AppError::new(
                        ErrorCode::AppNotFound,
                        "No such connected app on your account.",
                    ));
                }
                record_event(
                    conn,
                    now,
                    EventKind::OidcAppRevoked,
                    Some(&user_id),
                    None,
                    &client,
                    Some(&client_id),
                )
            })
            .await
    }
}
