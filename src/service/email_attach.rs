//! Adding a wallet to an account through the account's verified mailbox (off unless
//! `email.wallet_attach`): the signed request, the link mailed to the account, and completing
//! that link.

use std::sync::Arc;

use super::{
    email::{email_changed, invalid_link, reserve_mail, same_email},
    record_event,
    sessions::OpenedBy,
    single_use::Spent,
    wallets::{wallet_holder, WalletHolder},
    Challenge, ClientInfo, PendingEmail, Service, SignIn,
};
use crate::domain::address::Address;
use crate::domain::event::EventKind;
use crate::domain::{
    account::User,
    email_link::{EmailLink, EmailLinkKind},
};
use crate::{
    db::users,
    domain::{siwe, token::NonceFor},
    error::{AppError, AppResult, ErrorCode},
    mail,
};

impl Service {
    /// Whether a wallet may join an account through a link mailed to its verified address.
    pub fn email_wallet_attach(&self) -> bool {
        self.mailer.is_some() && self.email_wallet_attach
    }

    /// The message that asks to add `address` to the account that has verified `email`, its
    /// nonce bound to both: only such a message, signed, makes verify mail a wallet link, so a
    /// relayed sign-in message can never attach a wallet to another account.
    pub async fn email_attach_challenge(
        &self,
        address: &str,
        chain_id: Option<u64>,
        email: &str,
    ) -> AppResult<Challenge> {
        if !self.email_wallet_attach() {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "This server does not add wallets to accounts by email (email.wallet_attach is \
                 off). Sign in with a wallet of the account and link this one from there.",
            ));
        }
        let email = email.trim().to_lowercase();
        if !mail::is_valid_email(&email) {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "The email address is not valid.",
            ));
        }
        let address = Address::parse(address)?;
        let statement = format!(
            "Add this wallet to the account with email {email} on {}.",
            self.identity.domain
        );
        if !siwe::is_valid_statement(&statement) {
            return Err(AppError::new(
                ErrorCode::InvalidRequest,
                "This email address has characters a message to sign cannot hold.",
            ));
        }
        let named = address.to_string();
        let purpose = NonceFor::EmailAttach {
            email: &email,
            address: &named,
        };
        self.build_challenge(&address, chain_id, &statement, purpose)
    }

    /// Whether `nonce` was issued to ask that `address` join the account with `email`.
    pub(super) fn is_email_attach_nonce(&self, nonce: &str, email: &str, address: &str) -> bool {
        let email = email.trim().to_lowercase();
        let purpose = NonceFor::EmailAttach {
            email: &email,
            address,
        };
        self.email_wallet_attach() && self.keys.nonce_matches(nonce, purpose)
    }

    /// A signed request that `address` join the account that has verified `email`: mails that
    /// account a link, if there is one. The caller answers the same either way.
    pub(super) fn request_email_attach(
        &self,
        conn: &crate::db::Conn,
        email: &str,
        address: &Address,
        chain_id: u64,
        client: &ClientInfo,
    ) -> AppResult<Option<PendingEmail>> {
        if users::find_wallet(conn, address)?.is_some() {
            return Err(AppError::new(
                ErrorCode::WalletAlreadyLinked,
                "This wallet already belongs to an account: sign in with it.",
            ));
        }
        let Some(owner) = users::find_verified_owner(conn, email)? else {
            return Ok(None);
        };
        let pending = self.wallet_link_email(conn, &owner, address, chain_id)?;
        // Only when a mail goes out, so that anonymous requests add a bounded number of events
        // to the account's log (the mail throttle's).
        if pending.is_some() {
            record_event(
                conn,
                self.now_ms(),
                EventKind::EmailLinkSent,
                Some(&owner.id),
                Some(address),
                client,
                None,
            )?;
        }
        Ok(pending)
    }

    /// The mail that offers `owner` to add `address` to their account, unless the address
    /// has had its share of mail this hour.
    pub(super) fn wallet_link_email(
        &self,
        conn: &crate::db::Conn,
        owner: &User,
        address: &Address,
        chain_id: u64,
    ) -> AppResult<Option<PendingEmail>> {
        let email = owner.email.clone().unwrap_or_default();
        if !reserve_mail(conn, &email, self.now_ms())? {
            return Ok(None);
        }
        let now = self.now_ms();
        let token = self.email_token(
            conn,
            EmailLink {
                kind: EmailLinkKind::AttachWallet,
                user_id: owner.id.clone(),
                email: email.clone(),
                address: Some(*address),
                chain_id: Some(chain_id),
                created_at: now,
                expires_at: now + self.email_link_ttl.whole_milliseconds() as i64,
            },
        )?;
        Ok(Some(PendingEmail {
            to: email,
            subject: format!("Add a wallet to your account on {}", self.identity.domain),
            body: format!(
                "Someone signed a message with the wallet {address} asking to add it to the \
                 account with this email address on {}. Open this link to see the request and, if it \
                 was you, add that wallet to your account and sign in:\n\n\
                 {}/api/auth/email-link?token={token}\n\n\
                 Whoever holds that wallet will be able to sign in to your account. The link \
                 works once and expires in {} minutes. If this was not you, ignore this email: \
                 nothing changes unless you confirm on that page.\n",
                self.identity.domain,
                self.identity.origin,
                self.email_link_ttl.whole_minutes()
            ),
        }))
    }

    /// Completes an emailed wallet link (a POST from its page): attaches the wallet to the
    /// account, if that still has the address confirmed, signs the person in, and notifies the
    /// address.
    pub async fn complete_email_link(
        self: &Arc<Self>,
        token: String,
        client: ClientInfo,
    ) -> AppResult<SignIn> {
        let service = Arc::clone(self);
        let written = self
            .db
            .write(move |conn| {
                let spent =
                    service.consume_email_token(conn, &token, EmailLinkKind::AttachWallet)?;
                // A used link stays used, whatever happens to the rest.
                spent.then(conn, |conn, record| {
                    service.attach_by_email_link(conn, &record, &client)
                })
            })
            .await;
        let (signed_in, notice) = Spent::answer(written)?;
        self.resolve_name_later(signed_in.session.address);
        if let Some(notice) = notice {
            // The wallet is attached either way; a failure is logged by the mailer.
            let _ = self.send_email(notice).await;
        }
        Ok(signed_in)
    }

    /// The writes of a spent wallet link: attaches the wallet (unless already there) and
    /// opens a session, if the link's mailbox is still the account's confirmed address.
    fn attach_by_email_link(
        &self,
        conn: &crate::db::Conn,
        record: &EmailLink,
        client: &ClientInfo,
    ) -> AppResult<(SignIn, Option<PendingEmail>)> {
        if !self.email_wallet_attach() {
            // Switched off since the link was sent.
            return Err(invalid_link());
        }
        let address = record.address.ok_or_else(invalid_link)?;
        let chain_id = record.chain_id.unwrap_or(1);
        // The mailbox speaks for the account only while it is the account's confirmed address.
        let owner = users::find_user(conn, &record.user_id)?;
        if !owner.is_some_and(|o| o.email_verified && same_email(&o, &record.email)) {
            return Err(email_changed());
        }
        let mut attached = false;
        match wallet_holder(conn, &address, &record.user_id)? {
            WalletHolder::ThisAccount => {}
            WalletHolder::AnotherAccount => {
                return Err(AppError::new(
                    ErrorCode::WalletAlreadyLinked,
                    "This wallet was linked to another account in the meantime.",
                ))
            }
            WalletHolder::Nobody => {
                self.attach_wallet(conn, &record.user_id, &address, chain_id, client)?;
                attached = true;
            }
        }
        let notice = if attached {
            self.wallet_added_notice(conn, &record.user_id, &address)?
        } else {
            None
        };
        let signed_in = self.open_session(
            conn,
            &record.user_id,
            &address,
            chain_id,
            None,
            client,
            self.now_ms(),
            OpenedBy::EmailLink,
        )?;
        record_event(
            conn,
            self.now_ms(),
            EventKind::SignIn,
            Some(&record.user_id),
            Some(&address),
            client,
            Some("email_link"),
        )?;
        Ok((signed_in, notice))
    }
}
