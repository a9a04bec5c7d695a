//! Email: verification links, emailed wallet links (account recovery by mailbox, off unless
//! `email.wallet_attach`), and security notices. An emailed link changes nothing when it is
//! opened: its page shows what it will do ([`Service::preview_email_link`]) and a POST from that
//! page does it, so mail scanners that open every link spend and change nothing.

use std::sync::Arc;

use super::{record_event, single_use::Spent, Account, ClientInfo, Service};
use crate::domain::address::Address;
use crate::domain::event::EventKind;
use crate::domain::id::UserId;
use crate::domain::{
    account::User,
    email_link::{EmailLink, EmailLinkKind},
};
use crate::{
    db::{email_tokens, mail_log, users},
    domain::token::{self, Keys},
    error::{AppError, AppResult, ErrorCode},
};

/// What an emailed link is for.
/// What a link will do, for its page.
#[derive(Debug, Clone)]
pub struct EmailLinkPreview {
    /// The address the link was sent to (and verifies).
    pub email: String,
    /// The account's name.
    pub account_name: String,
    /// The account's primary wallet.
    pub primary_address: Option<Address>,
    /// For a wallet link: the wallet that will be added.
    pub wallet: Option<Address>,
}

/// An email to send once the transaction that asked for it has committed.
pub(super) struct PendingEmail {
    pub(super) to: String,
    pub(super) subject: String,
    pub(super) body: String,
}

/// Mail one address may receive per hour (security notices are always sent, and counted).
pub const MAIL_PER_RECIPIENT_PER_HOUR: u32 = 3;

/// The refusal of an emailed link that is unknown, used, expired or mistyped.
pub(super) fn invalid_link() -> AppError {
    AppError::new(
        ErrorCode::InvalidToken,
        "This link is not valid: it was used already, has expired, or was mistyped.",
    )
}

impl Service {
    /// Sends an email if email is configured; a failure is the caller's to report or ignore.
    pub(super) async fn send_email(&self, mail: PendingEmail) -> AppResult<()> {
        match &self.mailer {
            Some(mailer) => mailer.send(&mail.to, &mail.subject, mail.body).await,
            None => Ok(()),
        }
    }

    /// Sends an email, if any, once the request has been answered and whatever happens, so
    /// that how long the answer takes does not tell whether a mail went out (which would say
    /// whether an account has the address).
    pub(super) fn send_email_after_answer(self: &Arc<Self>, mail: Option<PendingEmail>) {
        if let Some(mail) = mail {
            let service = Arc::clone(self);
            tokio::spawn(async move {
                let _ = service.send_email(mail).await;
            });
        }
    }

    /// The token a link page's form must carry for `browser` (the random value in that
    /// browser's cookie) and the emailed `link_token`.
    pub fn link_form_token(&self, browser: &str, link_token: &str) -> String {
        self.keys.link_form_token(browser, link_token)
    }

    /// Fails with `csrf_invalid` unless `presented` is the form token of this browser and link.
    pub fn check_link_form(
        &self,
        browser: Option<&str>,
        link_token: &str,
        presented: &str,
    ) -> AppResult<()> {
        match browser {
            Some(browser)
                if self
                    .keys
                    .link_form_token_matches(browser, link_token, presented) =>
            {
                Ok(())
            }
            _ => Err(AppError::new(
                ErrorCode::CsrfInvalid,
                "This form was not sent from the page of this link in this browser, or the page \
                 is too old. Open the link from the email again and confirm there.",
            )),
        }
    }

    /// What an emailed link will do, without doing it or spending it (GET and HEAD).
    pub async fn preview_email_link(
        &self,
        token: &str,
        kind: EmailLinkKind,
    ) -> AppResult<EmailLinkPreview> {
        // Wallet links stop working when attaching by email is switched off.
        if !token::looks_like_token(token)
            || (kind == EmailLinkKind::AttachWallet && !self.email_wallet_attach())
        {
            return Err(invalid_link());
        }
        let key = self.keys.email_token_key(token);
        let now = self.now_ms();
        self.db.read(|conn| {
            let record = match email_tokens::find(conn, &key)? {
                Some(record) if record.kind == kind && record.expires_at > now => record,
                _ => return Err(invalid_link()),
            };
            let user = users::find_user(conn, &record.user_id)?.ok_or_else(invalid_link)?;
            match kind {
                EmailLinkKind::VerifyEmail if !same_email(&user, &record.email) => {
                    return Err(email_changed())
                }
                EmailLinkKind::VerifyEmail
                    if verified_elsewhere(conn, &user.id, &record.email)? =>
                {
                    return Err(confirmed_elsewhere())
                }
                EmailLinkKind::AttachWallet
                    if !(user.email_verified && same_email(&user, &record.email)) =>
                {
                    return Err(email_changed())
                }
                _ => {}
            }
            let wallets = users::wallets_of(conn, &user.id)?;
            let account = Account { user, wallets };
            let primary_address = account
                .wallets
                .iter()
                .find(|w| w.is_primary)
                .map(|w| w.address);
            Ok(EmailLinkPreview {
                email: record.email,
                account_name: account.display_name(),
                primary_address,
                wallet: record.address,
            })
        })
    }

    /// Sets (or removes) an account's email, pending until verified (whoever else names it,
    /// see [`Service::verification_email`]), and returns the verification mail to send.
    /// Saving the same unverified address again sends a new link.
    pub(super) fn set_email(
        &self,
        conn: &crate::db::Conn,
        user_id: &UserId,
        email: Option<&str>,
        client: &ClientInfo,
    ) -> AppResult<Option<PendingEmail>> {
        let before = users::find_user(conn, user_id)?;
        let verified = before.as_ref().is_some_and(|u| u.email_verified);
        let changed =
            before.and_then(|u| u.email).map(|e| e.to_lowercase()) != email.map(str::to_lowercase);
        if changed {
            users::set_email(conn, user_id, email)?;
            record_event(
                conn,
                self.now_ms(),
                EventKind::EmailChanged,
                Some(user_id),
                None,
                client,
                None,
            )?;
        } else if verified {
            return Ok(None);
        }
        match email {
            Some(email) => self.verification_email(conn, user_id, email),
            None => Ok(None),
        }
    }

    /// Stores a single-use email token and returns it (for the link).
    pub(super) fn email_token(
        &self,
        conn: &crate::db::Conn,
        record: EmailLink,
    ) -> AppResult<String> {
        let token = Keys::new_token(record.created_at);
        email_tokens::insert(conn, &self.keys.email_token_key(&token), &record)?;
        Ok(token)
    }

    /// The verification email for a newly set address, when email is configured.
    pub(super) fn verification_email(
        &self,
        conn: &crate::db::Conn,
        user_id: &UserId,
        email: &str,
    ) -> AppResult<Option<PendingEmail>> {
        if self.mailer.is_none()
            || verified_elsewhere(conn, user_id, email)?
            || !reserve_mail(conn, email, self.now_ms())?
        {
            // Another account's confirmed address can only be refused, so no link goes there;
            // and no address gets more than its share of mail. Either way the answer is the same.
            return Ok(None);
        }
        let now = self.now_ms();
        let token = self.email_token(
            conn,
            EmailLink {
                kind: EmailLinkKind::VerifyEmail,
                user_id: user_id.clone(),
                email: email.to_string(),
                address: None,
                chain_id: None,
                created_at: now,
                expires_at: now + self.email_link_ttl.whole_milliseconds() as i64,
            },
        )?;
        Ok(Some(PendingEmail {
            to: email.to_string(),
            subject: format!("Confirm your email for {}", self.identity.domain),
            body: format!(
                "Open this link to confirm that this is your email address:\n\n\
                 {}/api/account/verify-email?token={token}\n\n\
                 The page asks you to confirm; nothing changes until you do. The link works once \
                 and expires in {} minutes. If you did not ask for this, ignore it.\n",
                self.identity.origin,
                self.email_link_ttl.whole_minutes()
            ),
        }))
    }

    /// The notice sent to an account's verified address when a wallet is added to it, so that
    /// an attach the owner did not make does not go unseen.
    pub(super) fn wallet_added_notice(
        &self,
        conn: &crate::db::Conn,
        user_id: &UserId,
        address: &Address,
    ) -> AppResult<Option<PendingEmail>> {
        if self.mailer.is_none() {
            return Ok(None);
        }
        let Some(user) = users::find_user(conn, user_id)? else {
            return Ok(None);
        };
        let Some(email) = user.email.filter(|_| user.email_verified) else {
            return Ok(None);
        };
        // Never throttled: nobody may silence the notice by filling the address's quota first.
        mail_log::insert(conn, &email, self.now_ms())?;
        Ok(Some(PendingEmail {
            to: email,
            subject: format!(
                "A wallet was added to your account on {}",
                self.identity.domain
            ),
            body: format!(
                "The wallet {address} was added to your account \"{}\" on {}. It can now sign \
                 in to your account.\n\n\
                 If this was not you, sign in with another of your wallets at {}/account, remove \
                 that wallet and end the sessions you do not recognise.\n",
                user.name, self.identity.domain, self.identity.origin
            ),
        }))
    }

    /// Completes an emailed verification link (a POST from its page).
    pub async fn verify_email(
        self: &Arc<Self>,
        token: String,
        client: ClientInfo,
    ) -> AppResult<String> {
        let service = Arc::clone(self);
        let written = self
            .db
            .write(move |conn| {
                let spent =
                    service.consume_email_token(conn, &token, EmailLinkKind::VerifyEmail)?;
                // The link is spent all the same.
                spent.then(conn, |conn, record| {
                    if verified_elsewhere(conn, &record.user_id, &record.email)? {
                        return Err(confirmed_elsewhere());
                    }
                    if !users::mark_email_verified(conn, &record.user_id, &record.email)? {
                        return Err(email_changed());
                    }
                    record_event(
                        conn,
                        service.now_ms(),
                        EventKind::EmailVerified,
                        Some(&record.user_id),
                        None,
                        &client,
                        None,
                    )?;
                    Ok(record.email)
                })
            })
            .await;
        Spent::answer(written)
    }

    /// Spends an email token of the given kind; refuses unknown, used and expired ones.
    /// Like nonces, a token presented is spent whatever the outcome (see [`Spent`]).
    pub(super) fn consume_email_token(
        &self,
        conn: &crate::db::Conn,
        token: &str,
        kind: EmailLinkKind,
    ) -> AppResult<Spent<EmailLink>> {
        if !token::looks_like_token(token) {
            return Ok(Spent::Refused(invalid_link()));
        }
        Ok(
            match email_tokens::consume(conn, &self.keys.email_token_key(token))? {
                Some(record) if record.kind == kind && record.expires_at > self.now_ms() => {
                    Spent::Done(record)
                }
                _ => Spent::Refused(invalid_link()),
            },
        )
    }
}

/// Whether an account other than `user_id` has confirmed `email`.
fn verified_elsewhere(conn: &crate::db::Conn, user_id: &UserId, email: &str) -> AppResult<bool> {
    Ok(users::find_verified_owner(conn, email)?.is_some_and(|owner| owner.id != *user_id))
}

/// Counts a mail to `to` sent `now` unless it has had its share this hour; false when it has.
pub(super) fn reserve_mail(conn: &crate::db::Conn, to: &str, now: i64) -> AppResult<bool> {
    if mail_log::count_since(conn, to, now - mail_log::WINDOW_MS)? >= MAIL_PER_RECIPIENT_PER_HOUR {
        tracing::info!("mail to a recipient skipped: its hourly limit is reached");
        return Ok(false);
    }
    mail_log::insert(conn, to, now)?;
    Ok(true)
}

/// Whether `email` is the user's email, ignoring case.
pub(super) fn same_email(user: &User, email: &str) -> bool {
    user.email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(email))
}

fn confirmed_elsewhere() -> AppError {
    AppError::new(
        ErrorCode::EmailInUse,
        "Another account has confirmed this email address in the meantime; an address can be \
         confirmed on one account only.",
    )
}

/// The refusal of a link sent to an address the account no longer has.
pub(super) fn email_changed() -> AppError {
    AppError::new(
        ErrorCode::InvalidToken,
        "The account's email has changed since this link was sent.",
    )
}
