//! Sign-in with Ethereum, the identity rules, and sessions.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::{event_kind, load_account, now_ms, record_event, ClientInfo, PendingEmail, Service};
use crate::{
    db::{
        self, nonces,
        sessions::{self, SessionRecord},
        users::{self, UserRecord, WalletRecord},
        Answer, ForWaiter,
    },
    domain::{
        siwe::{self, SiweMessage},
        token::{self, Keys, NonceFor},
    },
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

/// A user with their wallets.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: UserRecord,
    pub wallets: Vec<WalletRecord>,
}

#[derive(Debug, Clone)]
pub struct SignIn {
    pub account: Account,
    pub session: SessionRecord,
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

pub enum SignInOutcome {
    SignedIn(Box<SignIn>),
    /// The email belongs to another account; a link that attaches the wallet was sent there.
    EmailLinkSent {
        email: String,
    },
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account: Account,
    pub session: SessionRecord,
}

/// A message its address signed, on a live nonce issued for this request's purpose, and
/// whether it passed the policy.
pub(super) struct CheckedMessage {
    pub parsed: SiweMessage,
    /// The signer's EIP-55 address, as named in the message.
    pub address: String,
    /// When the nonce expires, as the nonce says (its tag covers it).
    pub nonce_expires_at: i64,
    /// Why the policy refused it (domain, time window...) although it is signed, if it did.
    pub refusal: Option<AppError>,
}

/// A new user or session id: a UUIDv7, which begins with its creation time, so that new rows
/// (and index entries keyed by user) are appended to their B-trees rather than scattered
/// through them. Ids are not secrets; session tokens are.
fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// How often a session's last use is written at most.
const LAST_SEEN_EVERY_MS: i64 = 60_000;
/// Longest User-Agent kept with a session.
const USER_AGENT_MAX: usize = 512;

pub(super) fn invalid_nonce() -> AppError {
    AppError::new(
        ErrorCode::InvalidNonce,
        "The nonce is unknown, already used or expired; fetch a new nonce and sign again.",
    )
}

/// A sign-in message offered for anything else (linking a wallet...).
fn sign_in_nonce_elsewhere() -> AppError {
    AppError::new(
        ErrorCode::InvalidNonce,
        "This message was signed on a sign-in nonce, which can only sign in. Ask for the \
         challenge of this action (POST /api/wallets/challenge to link a wallet) and sign that.",
    )
}

pub(super) fn wallet_taken(
    conn: &rusqlite::Connection,
    address: &str,
    user_id: &str,
) -> AppResult<()> {
    match users::find_wallet(conn, address)? {
        Some(w) if w.user_id == user_id => Err(AppError::new(
            ErrorCode::WalletAlreadyYours,
            "This wallet is already linked to your account.",
        )),
        Some(_) => Err(AppError::new(
            ErrorCode::WalletAlreadyLinked,
            "This wallet belongs to another account. Sign in with it and unlink it there first.",
        )),
        None => Ok(()),
    }
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
        let expires_at = now_ms() + self.policy.nonce_ttl.whole_milliseconds() as i64;
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
        let (message, signature) = (request.message.clone(), request.signature.clone());
        let link_to = request.link_to.as_ref().map(|a| a.account.user.id.clone());
        // With an email (and no link), an email-attach challenge for it serves too.
        let attach_email = request.email.clone().filter(|_| link_to.is_none());
        let nonce_for = move |service: &Service, nonce: &str, address: &str| match &link_to {
            Some(user_id) => service.nonce_is_for(nonce, NonceFor::Link { user_id, address }),
            None if attach_email
                .as_deref()
                .is_some_and(|email| service.is_email_attach_nonce(nonce, email, address)) =>
            {
                Ok(())
            }
            None => service.nonce_is_for(nonce, NonceFor::SignIn),
        };
        let decided = self
            .check_then_write(message, signature, nonce_for, move |conn, checked| {
                service.sign_in_write(conn, checked, &request)
            })
            .await
            .and_then(|decided| decided);
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
                if let Some(mail) = pending {
                    // The account exists either way; the person can ask for a new link. Sent
                    // after answering, so that how long the answer takes does not tell whether
                    // a mail went out (which would say whether another account has the address).
                    let service = Arc::clone(self);
                    tokio::spawn(async move {
                        let _ = service.send_email(mail).await;
                    });
                }
                Ok(SignInOutcome::SignedIn(signed_in))
            }
            Decided::EmailLink { email, pending } => {
                if let Some(mail) = pending {
                    // After answering, and whatever happens: the answer must not tell whether
                    // an account has the address.
                    let service = Arc::clone(self);
                    tokio::spawn(async move {
                        let _ = service.send_email(mail).await;
                    });
                }
                Ok(SignInOutcome::EmailLinkSent { email })
            }
        }
    }

    /// Checks a signed message on the CPU pool (recovering the signer there, so that the async
    /// workers keep serving), which then queues `write` with it for the writer. The answer
    /// comes straight from the writer: one wake-up of the waiting request instead of two.
    /// `nonce_for(service, nonce, address)` says whether the nonce was issued for this request
    /// (see [`Service::nonce_is_for`]). A message refused before the writer (its nonce is not
    /// for this, or has expired; its address did not sign it) writes nothing at all.
    pub(super) async fn check_then_write<T, N, W>(
        self: &Arc<Self>,
        text: String,
        signature: String,
        nonce_for: N,
        write: W,
    ) -> AppResult<T>
    where
        T: Send + 'static,
        N: FnOnce(&Service, &str, &str) -> AppResult<()> + Send + 'static,
        W: FnOnce(&rusqlite::Connection, CheckedMessage) -> AppResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let service = Arc::clone(self);
        self.cpu.spawn(move || {
            // The requester has gone away (client disconnected): nobody to recover a signer for.
            if reply.is_closed() {
                return;
            }
            // Skipped by the writer too if the requester goes away before it gets there; should
            // the writer have stopped, the answer is dropped and the request told.
            let tell = ForWaiter(reply);
            match service.check_message(&text, &signature, nonce_for) {
                Ok(checked) => {
                    let _ = service
                        .db
                        .write_then(move |conn| write(conn, checked), tell);
                }
                Err(refused) => tell.send(Err(refused)),
            }
        })?;
        answer
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the signature check was dropped")))?
    }

    /// Fails with `invalid_nonce` unless this server issued `nonce` for `purpose` (its MAC;
    /// expiry and earlier use are checked elsewhere). A sign-in nonce offered for anything
    /// else is told so: a signature given to sign in can only sign in.
    pub(super) fn nonce_is_for(&self, nonce: &str, purpose: NonceFor<'_>) -> AppResult<()> {
        if self.keys.nonce_matches(nonce, purpose) {
            Ok(())
        } else if purpose != NonceFor::SignIn && self.keys.nonce_matches(nonce, NonceFor::SignIn) {
            Err(sign_in_nonce_elsewhere())
        } else {
            Err(invalid_nonce())
        }
    }

    /// Parses a signed message and checks its nonce, the policy and the signature. Refused
    /// here, with nothing written: a message that does not parse, a nonce not issued for this
    /// request or expired, and a message its address did not sign. Any other refusal comes
    /// back inside [`CheckedMessage`], to be reported once the nonce is spent.
    fn check_message(
        &self,
        text: &str,
        signature: &str,
        nonce_for: impl FnOnce(&Service, &str, &str) -> AppResult<()>,
    ) -> AppResult<CheckedMessage> {
        let checked = siwe::parse_message(text)
            .and_then(|parsed| Ok((parsed, siwe::parse_signature(signature)?)))
            .and_then(|(parsed, signature)| {
                let address = siwe::checksum_address(&parsed.message.address);
                let nonce = parsed.message.nonce.as_str();
                // Cheap refusals first: the MAC, then the expiry the MAC covers (never
                // today's `nonce_ttl_secs`).
                nonce_for(self, nonce, &address)?;
                let nonce_expires_at = token::nonce_expiry(nonce)
                    .filter(|expires_at| *expires_at > now_ms())
                    .ok_or_else(invalid_nonce)?;
                let refusal = self
                    .policy
                    .check_unsigned(&parsed, OffsetDateTime::now_utc())
                    .err();
                if let Err(unsigned) = siwe::verify_signature(&parsed.message, text, &signature) {
                    // Whoever sent it, the address never signed it: it may spend no nonce
                    // and fill no log. Said as the first thing wrong with it.
                    return Err(refusal.unwrap_or(unsigned));
                }
                Ok(CheckedMessage {
                    parsed,
                    address,
                    nonce_expires_at,
                    refusal,
                })
            });
        checked.inspect_err(|err| tracing::info!(reason = err.code().as_str(), "sign-in refused"))
    }

    /// Spends the nonce of a checked message (signed by its address, on a nonce for this
    /// request), so that it never works again, whatever the outcome. A policy refusal is
    /// returned in the inner result, to be kept with the spent nonce, and recorded as
    /// `failed_kind` in the log of `owner` (by default the account of the signing wallet;
    /// none, no event). Only the request that spends the nonce records anything: a replayed
    /// message writes nothing.
    pub(super) fn spend_nonce(
        &self,
        conn: &rusqlite::Connection,
        checked: &mut CheckedMessage,
        failed_kind: &str,
        owner: Option<&str>,
        client: &ClientInfo,
    ) -> AppResult<AppResult<()>> {
        let nonce = checked.parsed.message.nonce.as_str();
        let expires_at = checked.nonce_expires_at;
        let first_use = expires_at > now_ms() && nonces::spend(conn, nonce, expires_at)?;
        let address = checked.address.as_str();
        let refusal = match (first_use, checked.refusal.take()) {
            (true, None) => return Ok(Ok(())),
            (true, Some(refusal)) => refusal,
            (false, _) => {
                tracing::info!(%address, reason = "invalid_nonce", "sign-in refused");
                return Ok(Err(invalid_nonce()));
            }
        };
        let reason = refusal.code().as_str();
        tracing::info!(%address, reason, "sign-in refused");
        let owner = match owner {
            Some(user_id) => Some(user_id.to_string()),
            None => users::find_wallet(conn, address)?.map(|w| w.user_id),
        };
        if let Some(owner) = owner {
            let (owner, detail) = (Some(owner.as_str()), Some(reason));
            record_event(conn, failed_kind, owner, Some(address), client, detail)?;
        }
        Ok(Err(refusal))
    }

    /// The writes of a sign-in: spend the nonce, then apply the identity rules.
    fn sign_in_write(
        &self,
        conn: &rusqlite::Connection,
        mut checked: CheckedMessage,
        request: &SignInRequest,
    ) -> AppResult<AppResult<Decided>> {
        let (failed_kind, owner) = match &request.link_to {
            Some(current) => (
                event_kind::WALLET_LINK_FAILED,
                Some(current.account.user.id.as_str()),
            ),
            None => (event_kind::SIGN_IN_FAILED, None),
        };
        let spent = self.spend_nonce(conn, &mut checked, failed_kind, owner, &request.client)?;
        if let Err(refusal) = spent {
            return Ok(Err(refusal));
        }
        // The spent nonce stays spent whatever happens to the rest.
        Ok(db::atomically(conn, |conn| {
            self.decide_sign_in(conn, &checked, request)
        }))
    }

    fn decide_sign_in(
        &self,
        conn: &rusqlite::Connection,
        checked: &CheckedMessage,
        request: &SignInRequest,
    ) -> AppResult<Decided> {
        let address = checked.address.as_str();
        let chain_id = checked.parsed.message.chain_id;
        let now = now_ms();
        let mut pending = None;
        let (user_id, new_account, detail) = if let Some(current) = &request.link_to {
            let user_id = current.account.user.id.clone();
            wallet_taken(conn, address, &user_id)?;
            self.attach_wallet(conn, &user_id, address, chain_id, &request.client)?;
            pending = self.wallet_added_notice(conn, &user_id, address)?;
            (user_id, None, "linked")
        } else if let Some(email) = request.email.as_deref().filter(|email| {
            self.is_email_attach_nonce(&checked.parsed.message.nonce, email, address)
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
            true,
        )?;
        record_event(
            conn,
            event_kind::SIGN_IN,
            Some(&user_id),
            Some(address),
            &request.client,
            Some(detail),
        )?;
        Ok(Decided::SignedIn(Box::new(signed_in), pending))
    }

    /// A new account whose first (primary) wallet is `address`, signing in now.
    fn create_account(
        &self,
        conn: &rusqlite::Connection,
        address: &str,
        chain_id: u64,
        email: Option<&str>,
    ) -> AppResult<Account> {
        let user = UserRecord {
            id: new_row_id(),
            name: siwe::short_address(address),
            email: email.map(str::to_string),
            email_verified: false,
            created_at: now_ms(),
        };
        let wallet = WalletRecord {
            address: address.to_string(),
            user_id: user.id.clone(),
            chain_id,
            linked_at: user.created_at,
            last_sign_in_at: Some(user.created_at),
            is_primary: true,
        };
        users::insert_user(conn, &user)?;
        users::insert_wallet(conn, &wallet)?;
        Ok(Account {
            user,
            wallets: vec![wallet],
        })
    }

    /// Links a wallet that no account has to `user_id`.
    pub(super) fn attach_wallet(
        &self,
        conn: &rusqlite::Connection,
        user_id: &str,
        address: &str,
        chain_id: u64,
        client: &ClientInfo,
    ) -> AppResult<()> {
        let wallet = WalletRecord {
            address: address.to_string(),
            user_id: user_id.to_string(),
            chain_id,
            linked_at: now_ms(),
            last_sign_in_at: None,
            is_primary: users::wallets_of(conn, user_id)?.is_empty(),
        };
        users::insert_wallet(conn, &wallet).map_err(|err| {
            if db::is_unique_violation(&err) {
                AppError::new(
                    ErrorCode::WalletAlreadyLinked,
                    "This wallet belongs to another account.",
                )
            } else {
                err.into()
            }
        })?;
        record_event(
            conn,
            event_kind::WALLET_LINKED,
            Some(user_id),
            Some(address),
            client,
            None,
        )
    }

    /// Opens a session; `signed` when it comes from a verified signature (see
    /// `Service::require_recent_signature`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_session(
        &self,
        conn: &rusqlite::Connection,
        user_id: &str,
        address: &str,
        chain_id: u64,
        new_account: Option<Account>,
        client: &ClientInfo,
        now: i64,
        signed: bool,
    ) -> AppResult<SignIn> {
        let created = new_account.is_some();
        let account = match new_account {
            // Just stored, with this sign-in's time: nothing to update or read back.
            Some(account) => account,
            None => {
                users::record_sign_in(conn, address, chain_id, now)?;
                load_account(conn, user_id)?
            }
        };
        let token = Keys::new_token(now);
        let session = SessionRecord {
            id: new_row_id(),
            user_id: user_id.to_string(),
            address: address.to_string(),
            chain_id,
            created_at: now,
            expires_at: now + self.session_ttl.whole_milliseconds() as i64,
            last_seen_at: now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone().map(|mut ua| {
                ua.truncate(ua.floor_char_boundary(USER_AGENT_MAX));
                ua
            }),
            authenticated_at: signed.then_some(now),
        };
        sessions::insert(conn, &session, &self.keys.session_token_key(&token))?;
        Ok(SignIn {
            csrf_token: self.keys.csrf_token(&session.id),
            account,
            session,
            token,
            created,
        })
    }

    /// The live session for a token (from a cookie or bearer header) and its account.
    pub async fn authenticate(&self, token: &str) -> AppResult<Authenticated> {
        if !token::looks_like_token(token) {
            return Err(AppError::unauthenticated());
        }
        let key = self.keys.session_token_key(token);
        let now = now_ms();
        let authenticated = self.db.read(|conn| {
            let (session, user) =
                sessions::find_live(conn, &key, now)?.ok_or_else(AppError::unauthenticated)?;
            let wallets = users::wallets_of(conn, &user.id)?;
            Ok(Authenticated {
                account: Account { user, wallets },
                session,
            })
        })?;
        if authenticated.session.last_seen_at <= now - LAST_SEEN_EVERY_MS {
            let id = authenticated.session.id.clone();
            self.db
                .write_later(move |conn| sessions::touch(conn, &id, now, LAST_SEEN_EVERY_MS));
        }
        Ok(authenticated)
    }

    pub fn csrf_token(&self, session_id: &str) -> String {
        self.keys.csrf_token(session_id)
    }

    /// Fails with `csrf_invalid` unless `presented` is this session's CSRF token.
    pub fn check_csrf(&self, session_id: &str, presented: Option<&str>) -> AppResult<()> {
        match presented {
            Some(token) if self.keys.csrf_token_matches(session_id, token) => Ok(()),
            _ => Err(AppError::new(
                ErrorCode::CsrfInvalid,
                "This request needs the session's CSRF token in the X-CSRF-Token header \
                 (from GET /api/auth/csrf or the sign-in response).",
            )),
        }
    }

    pub async fn sign_out(&self, current: &Authenticated, client: ClientInfo) -> AppResult<()> {
        let (user_id, session_id, address) = (
            current.account.user.id.clone(),
            current.session.id.clone(),
            current.session.address.clone(),
        );
        self.db
            .write(move |conn| {
                sessions::revoke(conn, &user_id, &session_id, now_ms())?;
                record_event(
                    conn,
                    event_kind::SIGN_OUT,
                    Some(&user_id),
                    Some(&address),
                    &client,
                    None,
                )
            })
            .await
    }
}
