//! Sessions opened by a wallet contract: the signature it accepted is kept with the session (in
//! the write that opens or re-authenticates it), and with `siwe.recheck_contract_sessions_secs`
//! the contract is asked again at that interval; a session whose contract no longer accepts
//! (EIP-4361: a contract's answer can change, e.g. when its owners change) is ended, with a
//! security event on the account.

use std::{collections::HashSet, sync::Arc, time::Duration};

use tokio::task::JoinSet;

use super::{record_event, ClientInfo, Service};
use crate::{
    chains::{ChainError, Verdict},
    db::{
        contract_sessions::{self, ContractProof, LiveProof},
        sessions, Conn,
    },
    domain::{address::Address, event::EventKind, id::SessionId, siwe::ContractSigner},
    error::AppResult,
};

/// Kept signatures read per batch of a pass (one short read, then one write for the batch).
const RECHECK_BATCH: u32 = 64;

/// A pass's checks in flight at once: a few, so that contract wallets signing in keep most of
/// the `siwe.max_contract_checks` permits.
const RECHECK_CONCURRENCY: usize = 4;

/// What one re-check pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecheckReport {
    /// Sessions whose contract accepted their signature again.
    pub valid: usize,
    /// Sessions ended because their contract no longer accepts.
    pub ended: usize,
    /// Sessions kept unchecked because their chain did not answer (or has no RPC any more).
    pub unavailable: usize,
}

/// Records the signature a wallet contract accepted for a session (opening it, or
/// re-authenticating it), in the same write; it replaces any kept before.
pub(super) fn record_contract_session(
    conn: &Conn,
    session_id: &SessionId,
    address: &Address,
    signer: &ContractSigner,
    now_ms: i64,
) -> AppResult<()> {
    let proof = ContractProof {
        chain_id: signer.chain_id,
        address: *address,
        message_hash: signer.hash,
        signature: signer.signature.clone(),
    };
    contract_sessions::record(conn, session_id, &proof, now_ms)
}

impl Service {
    /// One re-check pass: asks the wallet contract of every live session checked before the
    /// pass began again, oldest check first, a batch at a time (no database transaction is
    /// held while the chains answer). Accepted: the check time moves on. Refused: the session
    /// ends as a sign-out would end it, and the account's log says why.
    ///
    /// A chain that does not answer keeps its sessions (fail open, deliberately): the issue
    /// ends the sessions that "no longer pass", and an RPC outage must not sign every contract
    /// wallet out. They are counted and logged, and asked again on the next pass; for the rest
    /// of this pass their chain is not called again.
    pub async fn recheck_contract_sessions(&self) -> AppResult<RecheckReport> {
        let began = self.now_ms();
        let mut report = RecheckReport::default();
        let mut down = HashSet::new();
        let mut after: Option<(i64, SessionId)> = None;
        loop {
            let now = self.now_ms();
            let cursor = after.as_ref().map(|(at, id)| (*at, id));
            let batch = self.db.read(|conn| {
                contract_sessions::oldest_checked(conn, now, began, cursor, RECHECK_BATCH)
            })?;
            let Some(last) = batch.last() else {
                break;
            };
            after = Some((last.checked_at, last.session_id.clone()));
            let whole_batch = batch.len() == RECHECK_BATCH as usize;
            let answers = self.ask_contracts(batch, &mut down).await;
            let done = self.apply_rechecks(answers).await?;
            report.valid += done.valid;
            report.ended += done.ended;
            report.unavailable += done.unavailable;
            if !whole_batch {
                break;
            }
        }
        if let Some(m) = crate::metrics::metrics() {
            let counts = [
                ("valid", report.valid),
                ("ended", report.ended),
                ("unavailable", report.unavailable),
            ];
            for (result, count) in counts {
                let counter = m.contract_session_checks.with_label_values(&[result]);
                counter.inc_by(count as u64);
            }
        }
        Ok(report)
    }

    /// Asks the wallet contracts of a batch, a few at once; a chain that did not answer is
    /// added to `down` and not asked again.
    async fn ask_contracts(
        &self,
        batch: Vec<LiveProof>,
        down: &mut HashSet<u64>,
    ) -> Vec<(LiveProof, Result<Verdict, ChainError>)> {
        let mut answers = Vec::with_capacity(batch.len());
        let mut waiting = batch.into_iter();
        let mut asking = JoinSet::new();
        loop {
            while asking.len() < RECHECK_CONCURRENCY {
                let Some(live) = waiting.next() else {
                    break;
                };
                let chain_id = live.proof.chain_id;
                if down.contains(&chain_id) {
                    answers.push((live, Err(ChainError::Unavailable(chain_id))));
                    continue;
                }
                let chains = Arc::clone(&self.chains);
                asking.spawn(async move {
                    let proof = &live.proof;
                    let (hash, signature) = (proof.message_hash, &proof.signature);
                    let verdict = chains
                        .check_signature(chain_id, &proof.address, hash, signature)
                        .await;
                    (live, verdict)
                });
            }
            let Some(asked) = asking.join_next().await else {
                return answers;
            };
            match asked {
                Ok((live, Err(err))) => {
                    if down.insert(live.proof.chain_id) {
                        tracing::warn!(
                            chain_id = live.proof.chain_id,
                            error = %err,
                            "contract sessions on this chain kept unchecked until its RPC answers"
                        );
                    }
                    answers.push((live, Err(err)));
                }
                Ok(answer) => answers.push(answer),
                // Its session is asked again next pass.
                Err(err) => tracing::warn!(error = %err, "a contract session's re-check failed"),
            }
        }
    }

    /// Writes a batch's answers: check times moved on, refused sessions ended and recorded. A
    /// signature replaced meanwhile (re-authenticated) is left for the next pass.
    async fn apply_rechecks(
        &self,
        answers: Vec<(LiveProof, Result<Verdict, ChainError>)>,
    ) -> AppResult<RecheckReport> {
        let clock = self.clock.clone();
        self.db
            .write(move |conn| {
                let now = clock.now_ms();
                let mut report = RecheckReport::default();
                for (live, verdict) in &answers {
                    let (id, proof) = (&live.session_id, &live.proof);
                    match verdict {
                        Ok(Verdict::Valid) => {
                            contract_sessions::mark_checked(conn, id, &proof.message_hash, now)?;
                            report.valid += 1;
                        }
                        Ok(Verdict::Invalid) => {
                            let same = contract_sessions::find(conn, id)?
                                .is_some_and(|kept| kept.message_hash == proof.message_hash);
                            if same && sessions::revoke(conn, &live.user_id, id, now)? {
                                tracing::info!(
                                    session_id = %id,
                                    address = %proof.address,
                                    chain_id = proof.chain_id,
                                    "contract session ended: its wallet contract no longer \
                                     accepts its signature"
                                );
                                record_event(
                                    conn,
                                    now,
                                    EventKind::ContractSessionEnded,
                                    Some(&live.user_id),
                                    Some(&proof.address),
                                    &ClientInfo::default(),
                                    Some(&format!("chain {}", proof.chain_id)),
                                )?;
                                report.ended += 1;
                            }
                        }
                        Err(_) => report.unavailable += 1,
                    }
                }
                Ok(report)
            })
            .await
    }

    /// Runs [`Service::recheck_contract_sessions`] every `every`, the first pass one interval
    /// after start; a pass longer than the interval delays the next.
    pub async fn recheck_contract_sessions_every(self: Arc<Self>, every: Duration) {
        let start = tokio::time::Instant::now() + every;
        let mut ticker = tokio::time::interval_at(start, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.recheck_contract_sessions().await {
                Ok(report) if report == RecheckReport::default() => {}
                Ok(report) => tracing::info!(
                    valid = report.valid,
                    ended = report.ended,
                    unavailable = report.unavailable,
                    "contract sessions re-checked"
                ),
                Err(err) => tracing::warn!(error = %err, "re-check of contract sessions failed"),
            }
        }
    }
}
