//! The account itself: a user and their wallets, its id, and its profile (name and email).

use std::sync::Arc;

use crate::db::Conn;

use super::{Authenticated, ClientInfo, Service};
use crate::domain::account::{self, User, Wallet};
use crate::domain::id::UserId;
use crate::{
    db::users,
    error::{AppError, AppResult, ErrorCode},
    mail,
};

/// A user with their wallets.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    pub wallets: Vec<Wallet>,
}

impl Account {
    /// The name to show: the one its owner chose, else the primary wallet's ENS name, else the
    /// short address a sign-in named it with.
    pub fn display_name(&self) -> String {
        account::display_name(&self.user, &self.wallets).unwrap_or_else(|| self.user.name.clone())
    }
}

/// Profile changes; `email: Some(None)` removes the email.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
}

const NAME_MAX: usize = 64;

/// A new user or session id: a UUIDv7, which begins with its creation time, so that new rows
/// (and index entries keyed by user) are appended to their B-trees rather than scattered
/// through them. Ids are not secrets; session tokens are.
pub(super) fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Loads an account with its wallets.
pub fn load_account(conn: &Conn, user_id: &UserId) -> AppResult<Account> {
    let user = users::find_user(conn, user_id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("user {user_id} vanished")))?;
    let wallets = users::wallets_of(conn, user_id)?;
    Ok(Account { user, wallets })
}

impl Service {
    /// Changes name and/or email. A new email is unverified; with email configured, a
    /// verification link is sent to it.
    pub async fn update_profile(
        self: &Arc<Self>,
        current: &Authenticated,
        update: ProfileUpdate,
        client: ClientInfo,
    ) -> AppResult<Account> {
        if let Some(name) = &update.name {
            let trimmed = name.trim();
            if trimmed.is_empty()
                || trimmed.chars().count() > NAME_MAX
                || trimmed.chars().any(char::is_control)
            {
                return Err(AppError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "The name must be 1 to {NAME_MAX} characters without control characters."
                    ),
                ));
            }
        }
        let email = update
            .email
            .map(|e| e.map(|e| e.trim().to_string()).filter(|e| !e.is_empty()));
        if let Some(Some(email)) = &email {
            if !mail::is_valid_email(email) {
                return Err(AppError::new(
                    ErrorCode::InvalidRequest,
                    "The email address is not valid.",
                ));
            }
        }
        if let Some(email) = &email {
            let lower = |e: &str| e.to_lowercase();
            if current.account.user.email.as_deref().map(lower) != email.as_deref().map(lower) {
                self.require_recent_signature(current)?;
            }
        }
        let service = Arc::clone(self);
        let user_id = current.account.user.id.clone();
        let (account, pending) = self
            .db
            .write(move |conn| {
                if let Some(name) = &update.name {
                    users::set_name(conn, &user_id, name.trim())?;
                }
                let pending = match &email {
                    Some(email) => service.set_email(conn, &user_id, email.as_deref(), &client)?,
                    None => None,
                };
                let account = load_account(conn, &user_id)?;
                Ok((account, pending))
            })
            .await?;
        if let Some(mail) = pending {
            self.send_email(mail).await.map_err(|_| {
                AppError::new(
                    ErrorCode::EmailUnavailable,
                    "The email address was saved, but the verification link could not be sent; \
                     save it again later to send a new one.",
                )
            })?;
        }
        Ok(account)
    }
}
