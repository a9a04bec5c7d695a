//! Sessions: opening one, finding the live session for a token, its CSRF token, signing out,
//! and listing or ending the account's sessions.

use super::checked_message::CheckedMessage;
use super::contract_sessions::record_contract_session;
use super::{load_account, new_row_id, record_event, Account, ClientInfo, Service, SignIn};
use crate::domain::address::Address;
use crate::domain::event::EventKind;
use crate::domain::id::SessionId;
use crate::domain::id::UserId;
use crate::domain::pairing::Approval;
use crate::domain::session::Session;
use crate::domain::siwe::ContractSigner;
use crate::{
    db::{sessions, users},
    domain::token::{self, Keys},
    error::{AppError, AppResult, ErrorCode},
};

/// What opened a session.
#[derive(Debug, Clone, Copy)]
pub(super) enum OpenedBy<'a> {
    /// An emailed link: it proves the mailbox, not the wallet, so the session is not recent.
    EmailLink,
    /// A key's signature.
    Key,
    /// A wallet contract's acceptance of a signature, kept to ask it again.
    Contract(&'a ContractSigner),
    /// A signature given on another device at `signed_at` (Unix ms): a pairing's approval, by
    /// a key or by a wallet contract (kept to ask it again, as with `Contract`).
    SignedElsewhere {
        signed_at: i64,
        contract: Option<&'a ContractSigner>,
    },
}

impl<'a> OpenedBy<'a> {
    /// A signed message's signer: a key, or the wallet contract that accepted it.
    pub(super) fn signer_of(checked: &'a CheckedMessage) -> Self {
        checked.contract.as_ref().map_or(Self::Key, Self::Contract)
    }

    /// The wallet contract's acceptance, when a contract signed.
    fn contract(self) -> Option<&'a ContractSigner> {
        match self {
            Self::Contract(signer) => Some(signer),
            Self::SignedElsewhere { contract, .. } => contract,
            Self::EmailLink | Self::Key => None,
        }
    }
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account: Account,
    pub session: Session,
}

/// How often a session's last use is written at most.
const LAST_SEEN_EVERY_MS: i64 = 60_000;

/// Longest User-Agent kept with a session.
const USER_AGENT_MAX: usize = 512;

impl Service {
    /// Opens a session; one opened by a signature is recent (see
    /// `Service::require_recent_signature`), and a wallet contract's is recorded to be checked
    /// again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_session(
        &self,
        conn: &crate::db::Conn,
        user_id: &UserId,
        address: &Address,
        chain_id: u64,
        new_account: Option<Account>,
        client: &ClientInfo,
        now: i64,
        opened_by: OpenedBy<'_>,
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
        let signed_at = match opened_by {
            OpenedBy::EmailLink => None,
            OpenedBy::SignedElsewhere { signed_at, .. } => Some(signed_at),
            OpenedBy::Key | OpenedBy::Contract(_) => Some(now),
        };
        let contract = opened_by.contract();
        let session = Session {
            id: SessionId::new(new_row_id()),
            user_id: user_id.clone(),
            address: *address,
            chain_id,
            created_at: now,
            expires_at: now + self.session_ttl.whole_milliseconds() as i64,
            last_seen_at: now,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone().map(|mut ua| {
                ua.truncate(ua.floor_char_boundary(USER_AGENT_MAX));
                ua
            }),
            authenticated_at: signed_at,
            contract_wallet: contract.is_some(),
        };
        sessions::insert(conn, &session, &self.keys.session_token_key(&token))?;
        if let Some(signer) = contract {
            // The contract accepted it when it was signed: its re-checks count from then.
            record_contract_session(conn, &session.id, address, signer, signed_at.unwrap_or(now))?;
        }
        Ok(SignIn {
            csrf_token: self.keys.csrf_token(session.id.as_str()),
            account,
            session,
            token,
            created,
        })
    }

    /// Opens a session on this device for the wallet that approved a pairing on another
    /// device, in the caller's write: recent as of the approval's signature, and, when a wallet
    /// contract approved, recorded to ask the contract again like any contract's session.
    pub fn open_session_signed_elsewhere(
        &self,
        conn: &crate::db::Conn,
        approval: &Approval,
        client: &ClientInfo,
    ) -> AppResult<SignIn> {
        let opened_by = OpenedBy::SignedElsewhere {
            signed_at: approval.approved_at,
            contract: approval.contract.as_ref(),
        };
        let signed_in = self.open_session(
            conn,
            &approval.user_id,
            &approval.address,
            approval.chain_id,
            None,
            client,
            self.now_ms(),
            opened_by,
        )?;
        Ok(SignIn {
            created: approval.created_account,
            ..signed_in
        })
    }

    /// The live session for a token (from a cookie or bearer header) and its account.
    pub async fn authenticate(&self, token: &str) -> AppResult<Authenticated> {
        if !token::looks_like_token(token) {
            return Err(AppError::unauthenticated());
        }
        let key = self.keys.session_token_key(token);
        let now = self.now_ms();
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

    /// The CSRF token a session's changing requests must carry.
    pub fn csrf_token(&self, session_id: &SessionId) -> String {
        self.keys.csrf_token(session_id.as_str())
    }

    /// Fails with `csrf_invalid` unless `presented` is this session's CSRF token.
    pub fn check_csrf(&self, session_id: &SessionId, presented: Option<&str>) -> AppResult<()> {
        match presented {
            Some(token) if self.keys.csrf_token_matches(session_id.as_str(), token) => Ok(()),
            _ => Err(AppError::new(
                ErrorCode::CsrfInvalid,
                "This request needs the session's CSRF token in the X-CSRF-Token header \
                 (from GET /api/auth/csrf or the sign-in response).",
            )),
        }
    }

    /// Ends the current session and records it.
    pub async fn sign_out(&self, current: &Authenticated, client: ClientInfo) -> AppResult<()> {
        let (user_id, session_id, address) = (
            current.account.user.id.clone(),
            current.session.id.clone(),
            current.session.address,
        );
        let clock = self.clock.clone();
        self.db
            .write(move |conn| {
                sessions::revoke(conn, &user_id, &session_id, clock.now_ms())?;
                record_event(
                    conn,
                    clock.now_ms(),
                    EventKind::SignOut,
                    Some(&user_id),
                    Some(&address),
                    &client,
                    None,
                )
            })
            .await
    }

    /// The account's live sessions.
    pub async fn sessions(&self, current: &Authenticated) -> AppResult<Vec<Session>> {
        let user_id = current.account.user.id.clone();
        self.db
            .read(|conn| sessions::live_of_user(conn, &user_id, self.now_ms()))
    }

    /// Ends one of the account's sessions.
    pub async fn end_session(
        &self,
        current: &Authenticated,
        session_id: SessionId,
        client: ClientInfo,
    ) -> AppResult<()> {
        let user_id = current.account.user.id.clone();
        let clock = self.clock.clone();
        self.db
            .write(move |conn| {
                if !sessions::revoke(conn, &user_id, &session_id, clock.now_ms())? {
                    return Err(AppError::new(
                        ErrorCode::SessionNotFound,
                        "No such active session on your account.",
                    ));
                }
                record_event(
                    conn,
                    clock.now_ms(),
                    EventKind::SessionEnded,
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
        let clock = self.clock.clone();
        self.db
            .write(move |conn| {
                let ended =
                    sessions::revoke_all(conn, &user_id, None, keep.as_ref(), clock.now_ms())?;
                record_event(
                    conn,
                    clock.now_ms(),
                    EventKind::SessionsEnded,
                    Some(&user_id),
                    None,
                    &client,
                    Some(&format!("{ended} sessions ended")),
                )?;
                Ok(ended)
            })
            .await
    }
}
