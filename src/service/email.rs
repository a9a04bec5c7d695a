//! Email: verification links, emailed wallet links (account recovery by mailbox, off unless
//! `email.wallet_attach`), and security notices. An emailed link changes nothing when it is
//! opened: its page shows what it will do ([`Service::preview_email_link`]) and a POST from that
//! page does it, so mail scanners that open every link spend and change nothing.

use std::sync::Arc;

use super::{
    event_kind, now_ms, record_event, Challenge, ClientInfo, PendingEmail, Service, SignIn,
};
use crate::{
    db::{
        self,
        email_tokens::{self, EmailTokenRecord},
        mail_log,
        users::{self, UserRecord},
    },
    domain::{
        siwe,
        token::{self, Keys, NonceFor},
    },
    error::{AppError, AppResult, ErrorCode},
    mail,
};

/// What an emailed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailLinkKind {
    /// Confirms the account's email address.
    VerifyEmail,
    /// Adds a wallet to the account and signs in with it.
    AttachWallet,
}

impl EmailLinkKind {
    fn purpose(self) -> &'static str {
        match self {
            Self::VerifyEmail => email_tokens::VERIFY_EMAIL,
            Self::AttachWallet => email_tokens::LINK_WALLET,
        }
    }
}

/// What a link will do, for its page.
#[derive(Debug, Clone)]
pub struct EmailLinkPreview {
    /// The address the link was sent to (and verifies).
    pub email: String,
    /// The account's name.
    pub account_name: String,
    /// The account's primary wallet.
    pub primary_address: Option<String>,
    /// For a wallet link: the wallet that will be added.
    pub wallet: Option<String>,
}

/// Mail one address may receive per hour (security notices are always sent, and counted).
pub const MAIL_PER_RECIPIENT_PER_HOUR: u32 = 3;

fn invalid_link() -> AppError {
    AppError::new(
        ErrorCode::InvalidToken,
        "This link is not valid: it was used already, has expired, or was mistyped.",
    )
}

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
        let address = siwe::parse_address(address)?;
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
        let purpose = NonceFor::EmailAttach {
            email: &email,
            address: &address,
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
        conn: &rusqlite::Connection,
        email: &str,
        address: &str,
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
                event_kind::EMAIL_LINK_SENT,
                Some(&owner.id),
                Some(address),
                client,
                None,
            )?;
        }
        Ok(pending)
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
        let now = now_ms();
        self.db.read(|conn| {
            let record = match email_tokens::find(conn, &key)? {
                Some(record) if record.purpose == kind.purpose() && record.expires_at > now => {
                    record
                }
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
            let primary_address = users::wallets_of(conn, &user.id)?
                .into_iter()
                .find(|w| w.is_primary)
                .map(|w| w.address);
            Ok(EmailLinkPreview {
                email: record.email,
                account_name: user.name,
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
        conn: &rusqlite::Connection,
        user_id: &str,
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
                event_kind::EMAIL_CHANGED,
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
    fn email_token(
        &self,
        conn: &rusqlite::Connection,
        record: EmailTokenRecord,
    ) -> AppResult<String> {
        let token = Keys::new_token(record.created_at);
        email_tokens::insert(conn, &self.keys.email_token_key(&token), &record)?;
        Ok(token)
    }

    /// The verification email for a newly set address, when email is configured.
    pub(super) fn verification_email(
        &self,
        conn: &rusqlite::Connection,
        user_id: &str,
        email: &str,
    ) -> AppResult<Option<PendingEmail>> {
        if self.mailer.is_none()
            || verified_elsewhere(conn, user_id, email)?
            || !reserve_mail(conn, email)?
        {
            // Another account's confirmed address can only be refused, so no link goes there;
            // and no address gets more than its share of mail. Either way the answer is the same.
            return Ok(None);
        }
        let now = now_ms();
        let token = self.email_token(
            conn,
            EmailTokenRecord {
                purpose: email_tokens::VERIFY_EMAIL.into(),
                user_id: user_id.to_string(),
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

    pub(super) fn wallet_link_email(
        &self,
        conn: &rusqlite::Connection,
        owner: &UserRecord,
        address: &str,
        chain_id: u64,
    ) -> AppResult<Option<PendingEmail>> {
        let email = owner.email.clone().unwrap_or_default();
        if !reserve_mail(conn, &email)? {
            return Ok(None);
        }
        let now = now_ms();
        let token = self.email_token(
            conn,
            EmailTokenRecord {
                purpose: email_tokens::LINK_WALLET.into(),
                user_id: owner.id.clone(),
                email: email.clone(),
                address: Some(address.to_string()),
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

    /// The notice sent to an account's verified address when a wallet is added to it, so that
    /// an attach the owner did not make does not go unseen.
    pub(super) fn wallet_added_notice(
        &self,
        conn: &rusqlite::Connection,
        user_id: &str,
        address: &str,
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
        mail_log::insert(conn, &email, now_ms())?;
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
        self.db
            .write(move |conn| {
                let record =
                    match service.consume_email_token(conn, &token, EmailLinkKind::VerifyEmail)? {
                        Ok(record) => record,
                        Err(refusal) => return Ok(Err(refusal)),
                    };
                // The link is spent all the same.
                if verified_elsewhere(conn, &record.user_id, &record.email)? {
                    return Ok(Err(confirmed_elsewhere()));
                }
                if !users::mark_email_verified(conn, &record.user_id, &record.email)? {
                    return Ok(Err(email_changed()));
                }
                record_event(
                    conn,
                    event_kind::EMAIL_VERIFIED,
                    Some(&record.user_id),
                    None,
                    &client,
                    None,
                )?;
                Ok(Ok(record.email))
            })
            .await?
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
        let (signed_in, notice) = self
            .db
            .write(move |conn| {
                // A used link stays used, whatever happens to the rest.
                let record =
                    match service.consume_email_token(conn, &token, EmailLinkKind::AttachWallet)? {
                        Ok(record) => record,
                        Err(refusal) => return Ok(Err(refusal)),
                    };
                if !service.email_wallet_attach() {
                    // Switched off since the link was sent.
                    return Ok(Err(invalid_link()));
                }
                let address = record.address.clone().unwrap_or_default();
                let chain_id = record.chain_id.unwrap_or(1);
                Ok(db::atomically(conn, |tx| {
                    // The mailbox speaks for the account only while it is the account's
                    // confirmed address.
                    let owner = users::find_user(tx, &record.user_id)?;
                    if !owner.is_some_and(|o| o.email_verified && same_email(&o, &record.email)) {
                        return Err(email_changed());
                    }
                    let mut attached = false;
                    match users::find_wallet(tx, &address)? {
                        Some(w) if w.user_id == record.user_id => {}
                        Some(_) => {
                            return Err(AppError::new(
                                ErrorCode::WalletAlreadyLinked,
                                "This wallet was linked to another account in the meantime.",
                            ))
                        }
                        None => {
                            service.attach_wallet(
                                tx,
                                &record.user_id,
                                &address,
                                chain_id,
                                &client,
                            )?;
                            attached = true;
                        }
                    }
                    let notice = if attached {
                        service.wallet_added_notice(tx, &record.user_id, &address)?
                    } else {
                        None
                    };
                    let signed_in = service.open_session(
                        tx,
                        &record.user_id,
                        &address,
                        chain_id,
                        None,
                        &client,
                        now_ms(),
                        // An emailed link proves the mailbox, not the wallet: not recent.
                        false,
                    )?;
                    record_event(
                        tx,
                        event_kind::SIGN_IN,
                        Some(&record.user_id),
                        Some(&address),
                        &client,
                        Some("email_link"),
                    )?;
                    Ok((signed_in, notice))
                }))
            })
            .await??;
        if let Some(notice) = notice {
            // The wallet is attached either way; a failure is logged by the mailer.
            let _ = self.send_email(notice).await;
        }
        Ok(signed_in)
    }

    /// Spends an email token of the given kind; refuses unknown, used and expired ones.
    /// Like nonces, a token presented is spent whatever the outcome: a refusal comes back in
    /// the inner result, to be kept with the spent token.
    fn consume_email_token(
        &self,
        conn: &rusqlite::Connection,
        token: &str,
        kind: EmailLinkKind,
    ) -> AppResult<AppResult<EmailTokenRecord>> {
        if !token::looks_like_token(token) {
            return Ok(Err(invalid_link()));
        }
        Ok(
            match email_tokens::consume(conn, &self.keys.email_token_key(token))? {
                Some(record)
                    if record.purpose == kind.purpose() && record.expires_at > now_ms() =>
                {
                    Ok(record)
                }
                _ => Err(invalid_link()),
            },
        )
    }
}

/// Whether an account other than `user_id` has confirmed `email`.
fn verified_elsewhere(conn: &rusqlite::Connection, user_id: &str, email: &str) -> AppResult<bool> {
    Ok(users::find_verified_owner(conn, email)?.is_some_and(|owner| owner.id != user_id))
}

/// Counts a mail to `to` unless it has had its share this hour; false when it has.
fn reserve_mail(conn: &rusqlite::Connection, to: &str) -> AppResult<bool> {
    let now = now_ms();
    if mail_log::count_since(conn, to, now - mail_log::WINDOW_MS)? >= MAIL_PER_RECIPIENT_PER_HOUR {
        tracing::info!("mail to a recipient skipped: its hourly limit is reached");
        return Ok(false);
    }
    mail_log::insert(conn, to, now)?;
    Ok(true)
}

fn same_email(user: &UserRecord, email: &str) -> bool {
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

fn email_changed() -> AppError {
    AppError::new(
        ErrorCode::InvalidToken,
        "The account's email has changed since this link was sent.",
    )
}
