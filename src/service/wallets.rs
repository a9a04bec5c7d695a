//! Accounts: linking and unlinking wallets, the primary wallet, profile and email, sessions and
//! security events.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{
    event_kind, load_account, now_ms, record_event,
    sign_in::{wallet_taken, Account, Authenticated},
    unix_ms, ClientInfo, Service,
};
use crate::{
    db::{
        self,
        events::{self, EventRecord},
        sessions::{self, SessionRecord},
        users::{self, WalletRecord},
    },
    domain::{siwe, token::NonceFor},
    error::{AppError, AppResult, ErrorCode},
    mail,
};

/// A server-built message: signed, it signs in, or links one address to one account.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub message: String,
    pub nonce: String,
    pub expires_at: i64,
}

/// Profile changes; `email: Some(None)` removes the email.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
}

pub type Event = EventRecord;

const NAME_MAX: usize = 64;

fn wallet_not_found() -> AppError {
    AppError::new(
        ErrorCode::WalletNotFound,
        "No wallet with this address is linked to your account.",
    )
}

impl Service {
    /// Builds the exact message that links `address` to the signed-in account, and stores its
    /// nonce bound to both.
    pub async fn link_challenge(
        &self,
        current: &Authenticated,
        address: &str,
        chain_id: Option<u64>,
    ) -> AppResult<Challenge> {
        // Asked here too, so that the pages get the signature before the wallet switches.
        self.require_recent_signature(current)?;
        let user_id = current.account.user.id.clone();
        let statement = format!(
            "Link this wallet to account {user_id} on {}.",
            self.identity.domain
        );
        self.challenge(address, chain_id, &statement, Some(user_id))
            .await
    }

    /// Builds the exact sign-in message for `address`, for wallets that can only sign text
    /// (copy, sign anywhere, paste the signature).
    pub async fn sign_in_challenge(
        &self,
        address: &str,
        chain_id: Option<u64>,
    ) -> AppResult<Challenge> {
        let statement = self
            .identity
            .statement
            .clone()
            .unwrap_or_else(|| format!("Sign in to {}.", self.identity.domain));
        self.challenge(address, chain_id, &statement, None).await
    }

    /// A server-built message and its nonce: a link nonce when `link_for` is given.
    async fn challenge(
        &self,
        address: &str,
        chain_id: Option<u64>,
        statement: &str,
        link_for: Option<String>,
    ) -> AppResult<Challenge> {
        let address = siwe::parse_address(address)?;
        let purpose = match &link_for {
            Some(user_id) => NonceFor::Link {
                user_id,
                address: &address,
            },
            None => NonceFor::SignIn,
        };
        self.build_challenge(&address, chain_id, statement, purpose)
    }

    /// The message for `address` (EIP-55) on a fresh nonce issued for `purpose`.
    pub(super) fn build_challenge(
        &self,
        address: &str,
        chain_id: Option<u64>,
        statement: &str,
        purpose: NonceFor<'_>,
    ) -> AppResult<Challenge> {
        let chain_id = chain_id
            .or_else(|| self.policy.chain_ids.first().copied())
            .unwrap_or(1);
        if !self.policy.chain_ids.is_empty() && !self.policy.chain_ids.contains(&chain_id) {
            return Err(AppError::new(
                ErrorCode::ChainNotAllowed,
                format!(
                    "Chain {chain_id} is not allowed here; use one of {:?}.",
                    self.policy.chain_ids
                ),
            ));
        }
        let now = OffsetDateTime::now_utc();
        let expires = now + self.policy.nonce_ttl;
        let nonce = self.keys.new_nonce(unix_ms(expires), purpose);
        let message = siwe::build_message(&siwe::MessageParts {
            domain: &self.identity.domain,
            address,
            statement,
            uri: &self.identity.origin,
            chain_id,
            nonce: &nonce,
            issued_at: now,
            expiration_time: Some(expires),
        })?;
        Ok(Challenge {
            message,
            nonce,
            expires_at: unix_ms(expires),
        })
    }

    /// Links the wallet that signed `message` to the signed-in account. The message must come
    /// from a link challenge for this account and that wallet: a signature given to sign in
    /// can only sign in, so a relayed sign-in message can never attach its wallet here.
    pub async fn link_wallet(
        self: &Arc<Self>,
        current: &Authenticated,
        message: String,
        signature: String,
        client: ClientInfo,
    ) -> AppResult<WalletRecord> {
        // Before the nonce is spent, so the same signed message works after re-authenticating.
        self.require_recent_signature(current)?;
        let service = Arc::clone(self);
        let user_id = current.account.user.id.clone();
        let link_to = user_id.clone();
        let nonce_for = move |service: &Service, nonce: &str, address: &str| {
            let user_id = link_to.as_str();
            service.nonce_is_for(nonce, NonceFor::Link { user_id, address })
        };
        let (wallet, notice) = self
            .check_then_write(message, signature, nonce_for, move |conn, mut checked| {
                let failed = event_kind::WALLET_LINK_FAILED;
                let owner = Some(user_id.as_str());
                if let Err(refusal) =
                    service.spend_nonce(conn, &mut checked, failed, owner, &client)?
                {
                    return Ok(Err(refusal));
                }
                let address = checked.address;
                // The spent nonce stays spent whatever happens to the rest.
                Ok(db::atomically(conn, |conn| {
                    wallet_taken(conn, &address, &user_id)?;
                    let chain_id = checked.parsed.message.chain_id;
                    service.attach_wallet(conn, &user_id, &address, chain_id, &client)?;
                    let notice = service.wallet_added_notice(conn, &user_id, &address)?;
                    let wallet = users::find_wallet(conn, &address)?.ok_or_else(|| {
                        AppError::Internal(anyhow::anyhow!("linked wallet vanished"))
                    })?;
                    Ok((wallet, notice))
                }))
            })
            .await??;
        tracing::info!(address = %wallet.address, user_id = %wallet.user_id, "wallet linked");
        if let Some(notice) = notice {
            // The wallet is linked either way; a failure is logged by the mailer.
            let _ = self.send_email(notice).await;
        }
        Ok(wallet)
    }

    pub async fn wallets(&self, current: &Authenticated) -> AppResult<Vec<WalletRecord>> {
        let user_id = current.account.user.id.clone();
        self.db.read(|conn| users::wallets_of(conn, &user_id))
    }

    /// Removes a wallet unless it is the account's last; a removed primary passes to the
    /// oldest remaining wallet, and other sessions signed in with the wallet end.
    pub async fn unlink_wallet(
        &self,
        current: &Authenticated,
        address: &str,
        client: ClientInfo,
    ) -> AppResult<()> {
        self.require_recent_signature(current)?;
        let address = siwe::parse_address(address).map_err(|_| wallet_not_found())?;
        let user_id = current.account.user.id.clone();
        let current_session = current.session.id.clone();
        self.db
            .write(move |conn| {
                let wallets = users::wallets_of(conn, &user_id)?;
                let wallet = wallets
                    .iter()
                    .find(|w| w.address == address)
                    .ok_or_else(wallet_not_found)?;
                if wallets.len() == 1 {
                    return Err(AppError::new(
                        ErrorCode::LastSignInMethod,
                        "This is the account's only wallet; link another before removing it.",
                    ));
                }
                users::delete_wallet(conn, &user_id, &address)?;
                if wallet.is_primary {
                    if let Some(next) = wallets
                        .iter()
                        .filter(|w| w.address != address)
                        .min_by_key(|w| w.linked_at)
                    {
                        users::set_primary(conn, &user_id, &next.address)?;
                    }
                }
                let ended = sessions::revoke_all(
                    conn,
                    &user_id,
                    Some(&address),
                    Some(&current_session),
                    now_ms(),
                )?;
                record_event(
                    conn,
                    event_kind::WALLET_UNLINKED,
                    Some(&user_id),
                    Some(&address),
                    &client,
                    Some(&format!("{ended} sessions ended")),
                )?;
                Ok(())
            })
            .await
    }

    pub async fn set_primary_wallet(
        &self,
        current: &Authenticated,
        address: &str,
        client: ClientInfo,
    ) -> AppResult<()> {
        let address = siwe::parse_address(address).map_err(|_| wallet_not_found())?;
        let user_id = current.account.user.id.clone();
        self.db
            .write(move |conn| {
                if !users::set_primary(conn, &user_id, &address)? {
                    return Err(wallet_not_found());
                }
                record_event(
                    conn,
                    event_kind::PRIMARY_WALLET_CHANGED,
                    Some(&user_id),
                    Some(&address),
                    &client,
                    None,
                )?;
                Ok(())
            })
            .await
    }

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

    pub async fn sessions(&self, current: &Authenticated) -> AppResult<Vec<SessionRecord>> {
        let user_id = current.account.user.id.clone();
        self.db
            .read(|conn| sessions::live_of_user(conn, &user_id, now_ms()))
    }

    /// Ends one of the account's sessions.
    pub async fn end_session(
        &self,
        current: &Authenticated,
        session_id: String,
        client: ClientInfo,
    ) -> AppResult<()> {
        let user_id = current.account.user.id.clone();
        self.db
            .write(move |conn| {
                if !sessions::revoke(conn, &user_id, &session_id, now_ms())? {
                    return Err(AppError::new(
                        ErrorCode::SessionNotFound,
                        "No such active session on your account.",
                    ));
                }
                record_event(
                    conn,
                    event_kind::SESSION_ENDED,
                    Some(&user_id),
                    None,
                    &client,
                    None,
                )
            })
            .await
    }

    /// Ends all the account's sessions, or all but the current one; returns how many.
    pub async fn end_all_sessions(
        &self,
        current: &Authenticated,
        keep_current: bool,
        client: ClientInfo,
    ) -> AppResult<usize> {
        self.require_recent_signature(current)?;
        let user_id = current.account.user.id.clone();
        let keep = keep_current.then(|| current.session.id.clone());
        self.db
            .write(move |conn| {
                let ended = sessions::revoke_all(conn, &user_id, None, keep.as_deref(), now_ms())?;
                record_event(
                    conn,
                    event_kind::SESSIONS_ENDED,
                    Some(&user_id),
                    None,
                    &client,
                    Some(&format!("{ended} sessions ended")),
                )?;
                Ok(ended)
            })
            .await
    }

    pub async fn events(&self, current: &Authenticated, limit: u32) -> AppResult<Vec<Event>> {
        let user_id = current.account.user.id.clone();
        self.db
            .read(|conn| events::recent_of_user(conn, &user_id, limit.clamp(1, 200)))
    }
}
