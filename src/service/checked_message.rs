//! What every signed message goes through, whatever it is for (sign-in, linking a wallet,
//! re-authenticating, asking for a wallet link by email): the server builds the challenge, then
//! checks the message (nonce for this purpose, policy, signature) off the async workers, spends
//! its nonce once, and hands it to the caller's write. A signature no key made is a wallet
//! contract's to judge (EIP-1271/6492): its nonce is spent first, then the chain is asked.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::db::Conn;

use super::{contract_check::ChainCheck, record_event, single_use::Spent, ClientInfo, Service};
use crate::chains::ChainError;
use crate::domain::address::Address;
use crate::domain::event::EventKind;
use crate::domain::id::UserId;
use crate::{
    clock::unix_ms,
    db::{nonces, users, Answer, ForWaiter},
    domain::{
        siwe::{self, ContractSigner, SiweMessage},
        token::{self, NonceFor},
    },
    error::{AppError, AppResult, ErrorCode},
};

/// A server-built message: signed, it signs in, or links one address to one account.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub message: String,
    pub nonce: String,
    pub expires_at: i64,
}

/// A message its address signed, on a live nonce issued for this request's purpose, and
/// whether it passed the policy.
pub struct CheckedMessage {
    pub parsed: SiweMessage,
    /// The signer, as named in the message.
    pub address: Address,
    /// When the nonce expires, as the nonce says (its tag covers it).
    pub nonce_expires_at: i64,
    /// Why the policy refused it (domain, time window...) although it is signed, if it did.
    pub refusal: Option<AppError>,
    /// Set when a wallet contract (EIP-1271/6492), not a key, accepted the signature: what to
    /// ask the contract again later (`siwe.recheck_contract_sessions_secs`).
    pub contract: Option<ContractSigner>,
}

impl Clone for CheckedMessage {
    fn clone(&self) -> Self {
        Self {
            parsed: self.parsed.clone(),
            address: self.address,
            nonce_expires_at: self.nonce_expires_at,
            refusal: self.refusal.as_ref().map(AppError::duplicate),
            contract: self.contract.clone(),
        }
    }
}

/// A signed message sent for one purpose, as [`Service::check_then_write`] takes it.
pub struct SignedMessage<N> {
    pub message: String,
    pub signature: String,
    /// `nonce_for(service, nonce, address)` says whether the nonce was issued for this request
    /// (see [`Service::nonce_is_for`]).
    pub nonce_for: N,
    /// What a refusal records once the nonce is spent.
    pub refused: Refused,
}

/// The security event a signed message records when it is refused once its nonce is spent.
#[derive(Clone)]
pub struct Refused {
    pub kind: EventKind,
    /// Whose log it goes to; by default the account of the signing wallet (none, no event).
    pub owner: Option<UserId>,
    pub client: ClientInfo,
}

/// What is left to do with a message once checked on the CPU pool.
pub(super) enum Next {
    /// Spend its nonce and write (or report its refusal), in one writer transaction: a key
    /// signed it, or nothing on the chain can be asked about it.
    Write,
    /// No key signed it: the wallet contract at its address is asked.
    AskChain(ContractSigner),
}

/// What the CPU pool's check hands back to the request.
enum Checked<T, W> {
    /// The writer spent the nonce and ran the write, or refused.
    Written(Spent<T>),
    /// Only the chain can tell whether the signature is good.
    AskChain(Box<ChainCheck<W>>),
}

/// The refusal of a nonce this server did not issue, or that is used or expired.
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

impl Service {
    /// A server-built message and its nonce: a link nonce when `link_for` is given.
    pub(super) async fn challenge(
        &self,
        address: &str,
        chain_id: Option<u64>,
        statement: &str,
        link_for: Option<UserId>,
    ) -> AppResult<Challenge> {
        let address = Address::parse(address)?;
        let named = address.to_string();
        let purpose = match &link_for {
            Some(user_id) => NonceFor::Link {
                user_id: user_id.as_str(),
                address: &named,
            },
            None => NonceFor::SignIn,
        };
        self.build_challenge(&address, chain_id, statement, purpose)
    }

    /// The message for `address` (EIP-55) on a fresh nonce issued for `purpose`.
    pub fn build_challenge(
        &self,
        address: &Address,
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
        let now = self.clock.now();
        let expires = now + self.policy.nonce_ttl;
        let nonce = self.keys.new_nonce(unix_ms(expires), purpose);
        let message = siwe::build_message(&siwe::MessageParts {
            domain: &self.identity.domain,
            address: *address,
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

    /// The one path of every signed message: checks it (recovering the signer) right here when
    /// the CPU pool is idle, else on the pool so that the async workers keep serving (see
    /// [`super::CpuPool::run`]), then, on the writer, spends its nonce
    /// and runs `write` with it atomically. A message refused before the writer (its nonce is
    /// not for this, or has expired; its address did not sign it) writes nothing at all; once
    /// the nonce is spent it stays spent, whatever the policy or `write` says (see
    /// [`Service::spend_nonce`]). On an idle server all of it runs on the request's thread; else
    /// the answer comes straight from the writer: one wake-up of the waiting request instead
    /// of two. A signature no key made, on a chain with an RPC
    /// endpoint, goes to [`Service::write_if_contract_accepts`] instead.
    pub async fn check_then_write<T, N, W>(
        self: &Arc<Self>,
        signed: SignedMessage<N>,
        write: W,
    ) -> AppResult<T>
    where
        T: Send + 'static,
        N: FnOnce(&Service, &str, &str) -> AppResult<()> + Send + 'static,
        W: Fn(&Conn, &CheckedMessage) -> AppResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let service = Arc::clone(self);
        self.cpu.run(move |in_flight| {
            // The requester has gone away (client disconnected): nobody to recover a signer for.
            if reply.is_closed() {
                return;
            }
            // Skipped by the writer too if the requester goes away before it gets there; should
            // the writer have stopped, the answer is dropped and the request told.
            let tell = ForWaiter(reply);
            let SignedMessage {
                message,
                signature,
                nonce_for,
                refused,
            } = signed;
            let checked = service.check_message(&message, &signature, nonce_for);
            // The signer is recovered: other checks may take this thread's place meanwhile.
            drop(in_flight);
            match checked {
                Ok((checked, Next::Write)) => {
                    let writer = Arc::clone(&service);
                    let write = move |conn: &Conn| {
                        let spent = writer.spend_nonce(conn, &checked, &refused)?;
                        let written = spent.then(conn, |conn, ()| write(conn, &checked))?;
                        Ok(Checked::Written(written))
                    };
                    let _ = service.db.write_then(write, tell);
                }
                Ok((checked, Next::AskChain(signer))) => {
                    let check = ChainCheck {
                        checked,
                        signer,
                        refused,
                        write,
                    };
                    tell.send(Ok(Checked::AskChain(Box::new(check))));
                }
                Err(refusal) => tell.send(Err(refusal)),
            }
        })?;
        let checked = answer
            .await
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the signature check was dropped")))?;
        match checked? {
            Checked::Written(written) => Spent::answer(Ok(written)),
            Checked::AskChain(check) => self.write_if_contract_accepts(*check).await,
        }
    }

    /// Fails with `invalid_nonce` unless this server issued `nonce` for `purpose` (its MAC;
    /// expiry and earlier use are checked elsewhere). A sign-in nonce offered for anything
    /// else is told so: a signature given to sign in can only sign in.
    pub fn nonce_is_for(&self, nonce: &str, purpose: NonceFor<'_>) -> AppResult<()> {
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
    /// request or expired, and a message its address did not sign with a key (when no wallet
    /// contract can be asked about a key-sized signature either). Any other refusal comes back
    /// inside [`CheckedMessage`], to be reported once the nonce is spent. A signature no key
    /// made is left to the chain ([`Next::AskChain`]) when the message's chain has an RPC
    /// endpoint, and refused as `contract_wallet_unsupported` (nonce spent) when it has none.
    fn check_message(
        &self,
        text: &str,
        signature: &str,
        nonce_for: impl FnOnce(&Service, &str, &str) -> AppResult<()>,
    ) -> AppResult<(CheckedMessage, Next)> {
        let max_signature_bytes = self.policy.max_signature_bytes;
        let checked = siwe::parse_message(text)
            .and_then(|parsed| {
                Ok((
                    parsed,
                    siwe::parse_signature(signature, max_signature_bytes)?,
                ))
            })
            .and_then(|(parsed, signature)| {
                let address = Address::from_bytes(parsed.message.address);
                let nonce = parsed.message.nonce.as_str();
                // Cheap refusals first: the MAC, then the expiry the MAC covers (never
                // today's `nonce_ttl_secs`).
                nonce_for(self, nonce, &address.to_string())?;
                let nonce_expires_at = token::nonce_expiry(nonce)
                    .filter(|expires_at| *expires_at > self.now_ms())
                    .ok_or_else(invalid_nonce)?;
                let mut refusal = self.policy.check_unsigned(&parsed, self.clock.now()).err();
                let chain_id = parsed.message.chain_id;
                let next = match siwe::verify_signature(&parsed.message, text, &signature) {
                    Ok(()) => Next::Write,
                    Err(unsigned) if !self.chains.has_rpc(chain_id) => {
                        if signature.len() == siwe::KEY_SIGNATURE_BYTES
                            && !siwe::is_eip6492(&signature)
                        {
                            // Whoever sent it, the address never signed it: it may spend no
                            // nonce and fill no log. Said as the first thing wrong with it.
                            return Err(refusal.unwrap_or(unsigned));
                        }
                        // A contract wallet's, most likely, which nothing here can check.
                        refusal.get_or_insert_with(|| ChainError::NoRpc(chain_id).into());
                        Next::Write
                    }
                    Err(_) => Next::AskChain(ContractSigner {
                        chain_id,
                        hash: siwe::eip191_hash(text),
                        signature,
                    }),
                };
                let checked = CheckedMessage {
                    parsed,
                    address,
                    nonce_expires_at,
                    refusal,
                    contract: None,
                };
                Ok((checked, next))
            });
        checked.inspect_err(|err| tracing::info!(reason = err.code().as_str(), "sign-in refused"))
    }

    /// Spends the nonce of a checked message (signed by its address, on a nonce for this
    /// request), so that it never works again, whatever the outcome. A policy refusal is kept
    /// with the spent nonce and recorded as [`Refused`] says. Only the request that spends the
    /// nonce records anything: a replayed message writes nothing.
    pub(super) fn spend_nonce(
        &self,
        conn: &Conn,
        checked: &CheckedMessage,
        refused: &Refused,
    ) -> AppResult<Spent<()>> {
        let nonce = checked.parsed.message.nonce.as_str();
        let expires_at = checked.nonce_expires_at;
        let first_use = expires_at > self.now_ms() && nonces::spend(conn, nonce, expires_at)?;
        let address = &checked.address;
        let refusal = match (first_use, checked.refusal.as_ref().map(AppError::duplicate)) {
            (true, None) => return Ok(Spent::Done(())),
            (true, Some(refusal)) => refusal,
            (false, _) => {
                tracing::info!(%address, reason = "invalid_nonce", "sign-in refused");
                return Ok(Spent::Refused(invalid_nonce()));
            }
        };
        self.record_refusal(conn, address, refusal.code().as_str(), refused)?;
        Ok(Spent::Refused(refusal))
    }

    /// Logs a refusal of a signed message and records it as [`Refused`] says, in the log of
    /// the account it names or else of the signing wallet's (none, no event).
    pub(super) fn record_refusal(
        &self,
        conn: &Conn,
        address: &Address,
        reason: &str,
        refused: &Refused,
    ) -> AppResult<()> {
        tracing::info!(%address, reason, "sign-in refused");
        let owner = match &refused.owner {
            Some(user_id) => Some(user_id.clone()),
            None => users::find_wallet(conn, address)?.map(|w| w.user_id),
        };
        if let Some(owner) = owner {
            let (owner, detail) = (Some(&owner), Some(reason));
            let client = &refused.client;
            record_event(
                conn,
                self.now_ms(),
                refused.kind,
                owner,
                Some(address),
                client,
                detail,
            )?;
        }
        Ok(())
    }
}
