//! Signing in with Ethereum: the sign-in nonce and challenge, and the identity rules that decide
//! which account a signed message signs in to (or creates, or links to, or asks to join by
//! email).

use std::sync::Arc;

use super::{
    checked_message::{CheckedMessage, Refused, SignedMessage},
    new_row_id, record_event,
    sessions::OpenedBy,
    wallets::{linked_elsewhere, wallet_taken},
    Account, Authenticated, Challenge, ClientInfo, PendingEmail, Service,
};
use crate::domain::address::Address;
use crate::domain::event::EventKind;
use crate::domain::{
    account::{User, Wallet},
    id::UserId,
    session::Session,
};
use crate::{
    db::users,
    domain::token::NonceFor,
    error::{AppError, AppResult, ErrorCode},
    mail,
};

/// A fresh nonce and what a client needs to build a message this server accepts.
#[derive(Debug, Clone)]
pub struct NonceIssued {
    pub nonce: String,
    pub expires_at: i64,
    pub domain: String,
    pub uri: String,
    pub chain_ids: Vec<u64>,
    pub statement: Option<String>,
}

/// A new session for an account, as a sign-in answers it.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub account: Account,
    pub session: Session,
    /// The session token, for the cookie or an `Authorization: Bearer` header.
    pub token: String,
    pub csrf_token: String,
    /// Whether the account was created by this sign-in.
    pub created: bool,
}

/// What a verify request asks for.
#[derive(Debug, Clone)]
pub struct SignInRequest {
    pub message: String,
    pub signature: String,
    /// Attach the wallet to this (signed-in) account instead of signing in to its own.
    pub link_to: Option<Authenticated>,
    /// For a wallet without an account: the email of the account to create or to join.
    pub email: Option<String>,
    pub client: ClientInfo,
}

/// What a verified sign-in message led to.
pub enum SignInOutcome {
    SignedIn(Box<SignIn>),
    /// The email belongs to another account; a link that attaches the wallet was sent there.
    EmailLinkSent {
        email: String,
    },
}

enum Decided {
    SignedIn(Box<SignIn>, Option<PendingEmail>),
    EmailLink {
        email: String,
        /// None when no account has verified the address, or it has had all the mail it
        /// may get for now.
        pending: Option<PendingEmail>,
    },
}

impl Service {
    /// A fresh sign-in nonce. Nothing is stored until it is used (see `token::Keys::new_nonce`),
    /// so asking for nonces costs no database write.
    pub async fn issue_nonce(&self) -> AppResult<NonceIssued> {
        let expires_at = self.now_ms() + self.policy.nonce_ttl.whole_milliseconds() as i64;
        let nonce = self.keys.new_nonce(expires_at, NonceFor::SignIn);
        Ok(NonceIssued {
            nonce,
            expires_at,
            domain: self.identity.domain.clone(),
            uri: self.identity.origin.clone(),
            chain_ids: self.policy.chain_ids.clone(),
            statement: self.identity.statement.clone(),
        })
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

    /// Checks a signed EIP-4361 message and applies the identity rules: link to the current
    /// account if asked; else sign in to the account owning the wallet; else create one (with
    /// the given email, unless another account has it). Nothing is stored for a message its
    /// address did not sign on a live nonce for this purpose; once one did, its nonce is spent
    /// whatever the outcome (see [`Service::check_then_write`]).
    pub async fn sign_in(self: &Arc<Self>, request: SignInRequest) -> AppResult<SignInOutcome> {
        if let Some(email) = &request.email {
            if !mail::is_valid_email(email) {
                return Err(AppError::new(
                    ErrorCode::InvalidRequest,
                    "The email address is not valid.",
                ));
            }
        }
        if let Some(current) = &request.link_to {
            // Before the nonce is spent, so the same signed message works after re-authenticating.
            self.require_recent_signature(current)?;
        }
        let service = Arc::clone(self);
        let link_to = request.link_to.as_ref().map(|a| a.account.user.id.clone());
        // With an email (and no link), an email-attach challenge for it serves too.
        let attach_email = request.email.clone().filter(|_| link_to.is_none());
        let refused = Refused {
            kind: match link_to {
                Some(_) => EventKind::WalletLinkFailed,
                None => EventKind::SignInFailed,
            },
            owner: link_to.clone(),
            client: request.client.clone(),
        };
        let nonce_for = move |service: &Service, nonce: &str, address: &str| match &link_to {
            Some(user_id) => service.nonce_is_for(
                nonce,
                NonceFor::Link {
                    user_id: user_id.as_str(),
                    address,
                },
            ),
            None if attach_email
                .as_deref()
                .is_some_and(|email| service.is_email_attach_nonce(nonce, email, address)) =>
            {
                Ok(())
            }
            None => service.nonce_is_for(nonce, NonceFor::SignIn),
        };
        let signed = SignedMessage {
            message: request.message.clone(),
            signature: request.signature.clone(),
            nonce_for,
            refused,
        };
        let decided = self
            .check_then_write(signed, move |conn, checked| {
                service.decide_sign_in(conn, checked, &request)
            })
            .await;
        if let Some(m) = crate::metrics::metrics() {
            let result = decided
                .as_ref()
                .map_or_else(|e| e.code().as_str(), |_| "ok");
            m.sign_ins.with_label_values(&[result]).inc();
        }
        let decided = decided?;
        match decided {
            Decided::SignedIn(signed_in, pending) => {
                tracing::info!(
                    address = %signed_in.session.address,
                    user_id = %signed_in.account.user.id,
                    created = signed_in.created,
                    "sign-in succeeded"
                );
                self.resolve_name_later(signed_in.session.address);
                // The account exists either way; the person can ask for a new link.
                self.send_email_after_answer(pending);
                Ok(SignInOutcome::SignedIn(signed_in))
            }
            Decided::EmailLink { email, pending } => {
                self.send_email_after_answer(pending);
                Ok(SignInOutcome::EmailLinkSent { email })
            }
        }
    }

    /// The identity rules, once the nonce is spent: which account the signed message signs
    /// in to (linking, asking to join by email, existing or new), and its session.
    fn decide_sign_in(
        &self,
        conn: &crate::db::Conn,
        checked: &CheckedMessage,
        request: &SignInRequest,
    ) -> AppResult<Decided> {
        let address = &checked.address;
        let chain_id = checked.parsed.message.chain_id;
        let now = self.now_ms();
        let mut pending = None;
        let (user_id, new_account, detail) = if let Some(current) = &request.link_to {
            let user_id = current.account.user.id.clone();
            wallet_taken(conn, address, &user_id)?;
            self.attach_wallet(conn, &user_id, address, chain_id, &request.client)?;
            pending = self.wallet_added_notice(conn, &user_id, address)?;
            (user_id, None, "linked")
        } else if let Some(email) = request.email.as_deref().filter(|email| {
            self.is_email_attach_nonce(&checked.parsed.message.nonce, email, &address.to_string())
        }) {
            // Signed to ask for exactly this: never a sign-in, whatever else is true.
            let pending =
                self.request_email_attach(conn, email, address, chain_id, &request.client)?;
            return Ok(Decided::EmailLink {
                email: email.to_string(),
                pending,
            });
        } else if let Some(wallet) = users::find_wallet(conn, address)? {
            (wallet.user_id, None, "existing")
        } else if let Some(email) = &request.email {
            // The address is pending on the new account, as if nobody had it: naming an
            // address reserves nothing, attaches nothing and tells nothing about who has it.
            let account = self.create_account(conn, address, chain_id, Some(email))?;
            pending = self.verification_email(conn, &account.user.id, email)?;
            (account.user.id.clone(), Some(account), "created")
        } else {
            let account = self.create_account(conn, address, chain_id, None)?;
            (account.user.id.clone(), Some(account), "created")
        };
        let signed_in = self.open_session(
            conn,
            &user_id,
            address,
            chain_id,
            new_account,
            &request.client,
            now,
            OpenedBy::signer_of(checked),
        )?;
        record_event(
            conn,
            self.now_ms(),
            EventKind::SignIn,
            Some(&user_id),
            Some(address),
            &request.client,
            Some(detail),
        )?;
        Ok(Decided::SignedIn(Box::new(signed_in), pending))
    }

    /// The account `address` signs in to, in the caller's write: the one it is on, or a new
    /// one it is the first wallet of (then true), as a sign-in without email decides.
    pub fn account_of_wallet(
        &self,
        conn: &crate::db::Conn,
        address: &Address,
        chain_id: u64,
    ) -> AppResult<(UserId, bool)> {
        match users::find_wallet(conn, address)? {
            Some(wallet) => Ok((wallet.user_id, false)),
            None => {
                let account = self.create_account(conn, address, chain_id, None)?;
                Ok((account.user.id, true))
            }
        }
    }

    /// A new account whose first (primary) wallet is `address`, signing in now.
    fn create_account(
        &self,
        conn: &crate::db::Conn,
        address: &Address,
        chain_id: u64,
        email: Option<&str>,
    ) -> AppResult<Account> {
        let user = User {
            id: UserId::new(new_row_id()),
            name: address.short(),
            email: email.map(str::to_string),
            email_verified: false,
            created_at: self.now_ms(),
        };
        let wallet = Wallet {
            address: *address,
            user_id: user.id.clone(),
            chain_id,
            linked_at: user.created_at,
            last_sign_in_at: Some(user.created_at),
            is_primary: true,
            ens: None,
        };
        users::insert_user(conn, &user)?;
        // Another instance linked it since this step looked: after the user's insert, this
        // error undoes the whole step (see `Spent::then`).
        if !users::insert_wallet(conn, &wallet)? {
            return Err(linked_elsewhere());
        }
        Ok(Account {
            user,
            wallets: vec![wallet],
        })
    }
}
