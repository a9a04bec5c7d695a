//! Sign-in with Ethereum and sessions.

use std::sync::Arc;

use rusqlite::TransactionBehavior;
use time::{Duration, OffsetDateTime};

use super::unix_ms;
use crate::{
    db::{
        self, nonces,
        sessions::{self, SessionRecord},
        users::{self, UserRecord, WalletRecord},
        Db,
    },
    domain::{
        siwe::{self, SiwePolicy},
        token::{self, Keys},
    },
    error::{AppError, AppResult, ErrorCode},
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

/// Where a request came from, kept with the session it creates.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
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

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account: Account,
    pub session: SessionRecord,
}

pub struct AuthService {
    db: Db,
    policy: SiwePolicy,
    keys: Keys,
    session_ttl: Duration,
    domain: String,
    uri: String,
    statement: Option<String>,
}

/// Longest User-Agent kept with a session.
const USER_AGENT_MAX: usize = 512;

fn invalid_nonce() -> AppError {
    AppError::new(
        ErrorCode::InvalidNonce,
        "The nonce is unknown, already used or expired; fetch a new nonce and sign again.",
    )
}

impl AuthService {
    pub fn new(
        db: Db,
        policy: SiwePolicy,
        keys: Keys,
        session_ttl: Duration,
        domain: String,
        uri: String,
        statement: Option<String>,
    ) -> Self {
        Self {
            db,
            policy,
            keys,
            session_ttl,
            domain,
            uri,
            statement,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub async fn issue_nonce(&self) -> AppResult<NonceIssued> {
        let nonce = token::new_nonce();
        let now = OffsetDateTime::now_utc();
        let issued_at = unix_ms(now);
        let expires_at = unix_ms(now + self.policy.nonce_ttl);
        let stored = nonce.clone();
        self.db
            .run(move |conn| nonces::insert(conn, &stored, issued_at, expires_at))
            .await?;
        Ok(NonceIssued {
            nonce,
            expires_at,
            domain: self.domain.clone(),
            uri: self.uri.clone(),
            chain_ids: self.policy.chain_ids.clone(),
            statement: self.statement.clone(),
        })
    }

    /// Checks a signed EIP-4361 message and opens a session for its address, creating the account
    /// on the address's first sign-in. Malformed input is refused before anything is stored; once
    /// the message parses, its nonce is spent whatever the outcome.
    pub async fn sign_in(
        self: &Arc<Self>,
        text: String,
        signature: String,
        client: ClientInfo,
    ) -> AppResult<SignIn> {
        let service = Arc::clone(self);
        let result = self
            .db
            .run(move |conn| service.sign_in_blocking(conn, &text, &signature, client))
            .await;
        if let Ok(signed_in) = &result {
            tracing::info!(
                address = %signed_in.session.address,
                user_id = %signed_in.account.user.id,
                created = signed_in.created,
                "sign-in succeeded"
            );
        }
        result
    }

    fn sign_in_blocking(
        &self,
        conn: &mut db::Conn,
        text: &str,
        signature: &str,
        client: ClientInfo,
    ) -> AppResult<SignIn> {
        let parsed = siwe::parse_message(text)
            .and_then(|parsed| Ok((parsed, siwe::parse_signature(signature)?)))
            .inspect_err(|err| tracing::info!(reason = err.code().as_str(), "sign-in refused"));
        let (parsed, signature) = parsed?;
        let message = &parsed.message;
        let address = siwe::checksum_address(&message.address);
        let now = OffsetDateTime::now_utc();
        let now_ms = unix_ms(now);

        let checked = (|| {
            match nonces::consume(conn, &message.nonce)? {
                Some(expires_at) if expires_at > now_ms => {}
                _ => return Err(invalid_nonce()),
            }
            self.policy.check(&parsed, text, &signature, now)
        })();
        if let Err(err) = checked {
            tracing::info!(%address, reason = err.code().as_str(), "sign-in refused");
            return Err(err);
        }

        let token = Keys::new_session_token();
        let session = SessionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: String::new(),
            address: address.clone(),
            chain_id: message.chain_id,
            created_at: now_ms,
            expires_at: unix_ms(now + self.session_ttl),
            last_seen_at: now_ms,
            ip: client.ip,
            user_agent: client.user_agent.map(|mut ua| {
                ua.truncate(ua.floor_char_boundary(USER_AGENT_MAX));
                ua
            }),
        };

        // IMMEDIATE takes the write lock first, so the find-or-create below cannot race.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (user, created) = match users::find_wallet(&tx, &address)? {
            Some(wallet) => {
                let user = users::find_user(&tx, &wallet.user_id)?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("wallet {address} has no user"))
                })?;
                (user, false)
            }
            None => {
                let user = UserRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    name: siwe::short_address(&address),
                    email: None,
                    email_verified: false,
                    created_at: now_ms,
                };
                users::insert_user(&tx, &user)?;
                users::insert_wallet(
                    &tx,
                    &WalletRecord {
                        address: address.clone(),
                        user_id: user.id.clone(),
                        chain_id: message.chain_id,
                        linked_at: now_ms,
                        last_sign_in_at: None,
                    },
                )?;
                (user, true)
            }
        };
        users::record_sign_in(&tx, &address, message.chain_id, now_ms)?;
        let session = SessionRecord {
            user_id: user.id.clone(),
            ..session
        };
        sessions::insert(&tx, &session, &self.keys.session_token_hash(&token))?;
        let wallets = users::wallets_of(&tx, &user.id)?;
        tx.commit()?;

        Ok(SignIn {
            csrf_token: self.keys.csrf_token(&session.id),
            account: Account { user, wallets },
            session,
            token,
            created,
        })
    }

    /// The live session for a token (from a cookie or bearer header) and its account.
    pub async fn authenticate(&self, token: &str) -> AppResult<Authenticated> {
        if !token::looks_like_session_token(token) {
            return Err(AppError::unauthenticated());
        }
        let hash = self.keys.session_token_hash(token);
        self.db
            .run(move |conn| {
                let now_ms = unix_ms(OffsetDateTime::now_utc());
                let session = sessions::find_live(conn, &hash, now_ms)?
                    .ok_or_else(AppError::unauthenticated)?;
                let user = users::find_user(conn, &session.user_id)?
                    .ok_or_else(AppError::unauthenticated)?;
                let wallets = users::wallets_of(conn, &user.id)?;
                Ok(Authenticated {
                    account: Account { user, wallets },
                    session,
                })
            })
            .await
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

    pub async fn sign_out(&self, session_id: String) -> AppResult<()> {
        self.db
            .run(move |conn| {
                sessions::revoke(conn, &session_id, unix_ms(OffsetDateTime::now_utc()))?;
                Ok(())
            })
            .await
    }

    /// Succeeds when the database answers.
    pub async fn check_health(&self) -> AppResult<()> {
        self.db.run(|conn| Db::ping(conn)).await
    }

    /// Deletes expired nonces and sessions; returns how many rows went.
    pub async fn delete_expired(&self) -> AppResult<usize> {
        self.db
            .run(|conn| Db::delete_expired(conn, unix_ms(OffsetDateTime::now_utc())))
            .await
    }
}
