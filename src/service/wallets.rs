//! Wallets on an account: the link challenge, linking (and the rule that decides whether a
//! wallet may join an account), unlinking, and the primary wallet.

use std::sync::Arc;

use super::{
    checked_message::{Refused, SignedMessage},
    record_event, Authenticated, Challenge, ClientInfo, Service,
};
use crate::domain::account::Wallet;
use crate::domain::address::Address;
use crate::domain::event::EventKind;
use crate::domain::id::UserId;
use crate::{
    db::{sessions, users},
    domain::token::NonceFor,
    error::{AppError, AppResult, ErrorCode},
};

/// The refusal of a wallet address that is not on the account.
fn wallet_not_found() -> AppError {
    AppError::new(
        ErrorCode::WalletNotFound,
        "No wallet with this address is linked to your account.",
    )
}

/// Which account, if any, holds a wallet, as seen from the account it would join.
pub(super) enum WalletHolder {
    Nobody,
    ThisAccount,
    AnotherAccount,
}

/// The rule that decides whether a wallet may join account `user_id`: only while no account
/// holds it (a wallet belongs to one account at most). Every way of adding a wallet asks it
/// under the write lock: linking (here and from sign-in) through [`wallet_taken`], an emailed
/// wallet link (`email_attach.rs`) directly.
pub(super) fn wallet_holder(
    conn: &crate::db::Conn,
    address: &Address,
    user_id: &UserId,
) -> AppResult<WalletHolder> {
    Ok(match users::find_wallet(conn, address)? {
        Some(w) if w.user_id == *user_id => WalletHolder::ThisAccount,
        Some(_) => WalletHolder::AnotherAccount,
        None => WalletHolder::Nobody,
    })
}

/// Fails unless wallet `address` may be linked to account `user_id` (see [`wallet_holder`]).
pub(super) fn wallet_taken(
    conn: &crate::db::Conn,
    address: &Address,
    user_id: &UserId,
) -> AppResult<()> {
    match wallet_holder(conn, address, user_id)? {
        WalletHolder::ThisAccount => Err(AppError::new(
            ErrorCode::WalletAlreadyYours,
            "This wallet is already linked to your account.",
        )),
        WalletHolder::AnotherAccount => Err(linked_elsewhere()),
        WalletHolder::Nobody => Ok(()),
    }
}

pub(super) fn linked_elsewhere() -> AppError {
    AppError::new(
        ErrorCode::WalletAlreadyLinked,
        "This wallet belongs to another account. Sign in with it and unlink it there first.",
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

    /// Links the wallet that signed `message` to the signed-in account. The message must come
    /// from a link challenge for this account and that wallet: a signature given to sign in
    /// can only sign in, so a relayed sign-in message can never attach its wallet here.
    pub async fn link_wallet(
        self: &Arc<Self>,
        current: &Authenticated,
        message: String,
        signature: String,
        client: ClientInfo,
    ) -> AppResult<Wallet> {
        // Before the nonce is spent, so the same signed message works after re-authenticating.
        self.require_recent_signature(current)?;
        let service = Arc::clone(self);
        let user_id = current.account.user.id.clone();
        let link_to = user_id.clone();
        let nonce_for = move |service: &Service, nonce: &str, address: &str| {
            let user_id = link_to.as_str();
            service.nonce_is_for(nonce, NonceFor::Link { user_id, address })
        };
        let signed = SignedMessage {
            message,
            signature,
            nonce_for,
            refused: Refused {
                kind: EventKind::WalletLinkFailed,
                owner: Some(user_id.clone()),
                client: client.clone(),
            },
        };
        let (wallet, notice) = self
            .check_then_write(signed, move |conn, checked| {
                let address = &checked.address;
                wallet_taken(conn, address, &user_id)?;
                let chain_id = checked.parsed.message.chain_id;
                service.attach_wallet(conn, &user_id, address, chain_id, &client)?;
                let notice = service.wallet_added_notice(conn, &user_id, address)?;
                let wallet = users::find_wallet(conn, address)?
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("linked wallet vanished")))?;
                Ok((wallet, notice))
            })
            .await?;
        tracing::info!(address = %wallet.address, user_id = %wallet.user_id, "wallet linked");
        self.resolve_name_later(wallet.address);
        if let Some(notice) = notice {
            // The wallet is linked either way; a failure is logged by the mailer.
            let _ = self.send_email(notice).await;
        }
        Ok(wallet)
    }

    /// The account's wallets.
    pub async fn wallets(&self, current: &Authenticated) -> AppResult<Vec<Wallet>> {
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
        let address = Address::parse(address).map_err(|_| wallet_not_found())?;
        let user_id = current.account.user.id.clone();
        let current_session = current.session.id.clone();
        let clock = self.clock.clone();
        self.db
            .write(move |conn| {
                users::lock_account(conn, &user_id)?;
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
                    clock.now_ms(),
                )?;
                record_event(
                    conn,
                    clock.now_ms(),
                    EventKind::WalletUnlinked,
                    Some(&user_id),
                    Some(&address),
                    &client,
                    Some(&format!("{ended} sessions ended")),
                )?;
                Ok(())
            })
            .await
    }

    /// Makes one of the account's wallets its primary wallet.
    pub async fn set_primary_wallet(
        &self,
        current: &Authenticated,
        address: &str,
        client: ClientInfo,
    ) -> AppResult<()> {
        let address = Address::parse(address).map_err(|_| wallet_not_found())?;
        let user_id = current.account.user.id.clone();
        let clock = self.clock.clone();
        self.db
            .write(move |conn| {
                users::lock_account(conn, &user_id)?;
                if !users::set_primary(conn, &user_id, &address)? {
                    return Err(wallet_not_found());
                }
                record_event(
                    conn,
                    clock.now_ms(),
                    EventKind::PrimaryWalletChanged,
                    Some(&user_id),
                    Some(&address),
                    &client,
                    None,
                )?;
                Ok(())
            })
            .await
    }

    /// Links a wallet that no account has to `user_id`.
    pub(super) fn attach_wallet(
        &self,
        conn: &crate::db::Conn,
        user_id: &UserId,
        address: &Address,
        chain_id: u64,
        client: &ClientInfo,
    ) -> AppResult<()> {
        users::lock_account(conn, user_id)?;
        let wallet = Wallet {
            address: *address,
            user_id: user_id.clone(),
            chain_id,
            linked_at: self.now_ms(),
            last_sign_in_at: None,
            is_primary: users::wallets_of(conn, user_id)?.is_empty(),
            ens: None,
        };
        if !users::insert_wallet(conn, &wallet)? {
            return Err(linked_elsewhere());
        }
        record_event(
            conn,
            self.now_ms(),
            EventKind::WalletLinked,
            Some(user_id),
            Some(address),
            client,
            None,
        )
    }
}
