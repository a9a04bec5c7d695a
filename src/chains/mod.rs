//! What the server asks Ethereum nodes: whether a wallet contract accepts a signature (EIP-1271,
//! and EIP-6492 for wallets not deployed yet), and wallets' ENS names. Only the endpoints of
//! `[chains]` are ever called; calls run on a runtime of their own, bounded in number, each
//! endpoint tried in order within its timeout.

/// Wallets' ENS primary names.
mod ens;
/// A chain's endpoints: order, chain id check, timeout, how a failed call reads.
mod rpc;
/// Asking a wallet contract about a signature (EIP-1271, EIP-6492) and reading its answer.
mod signature;

use std::{collections::HashMap, sync::Arc, time::Instant};

use alloy::rpc::types::TransactionRequest;
use tokio::{runtime::Runtime, sync::Semaphore, task::AbortHandle};

use self::{rpc::ChainEndpoints, signature::read_answer};
pub use self::{
    rpc::{CallOutcome, CALL_GAS_CAP},
    signature::EIP1271_MAGIC,
};
use crate::{
    config::ChainRpc,
    domain::address::Address,
    error::{AppError, ErrorCode},
};

/// What a wallet contract said of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `isValidSignature` answered the magic value `0x1626ba7e` (or the EIP-6492 validator
    /// said yes).
    Valid,
    /// Anything else: another value, a revert, out of gas, no code at the address.
    Invalid,
}

/// Why a chain could not answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    /// `[chains]` has no RPC endpoint for this chain.
    #[error("no RPC endpoint is configured for chain {0}")]
    NoRpc(u64),
    /// Every endpoint failed or timed out (or too many checks were already waiting).
    #[error("no RPC endpoint of chain {0} answered")]
    Unavailable(u64),
}

impl From<ChainError> for AppError {
    fn from(err: ChainError) -> Self {
        match err {
            ChainError::NoRpc(chain_id) => AppError::new(
                ErrorCode::ContractWalletUnsupported,
                format!(
                    "This signature is not an ordinary key's signature (it may come from a \
                     smart-contract wallet), and this server cannot check contract wallets on \
                     chain {chain_id}; sign with a key-based wallet or ask the operator to add \
                     an RPC endpoint for chain {chain_id}."
                ),
            ),
            ChainError::Unavailable(chain_id) => AppError::new(
                ErrorCode::ChainUnavailable,
                format!(
                    "The server could not reach chain {chain_id} to check this contract \
                     wallet's signature; fetch a new nonce and sign again after the number of \
                     seconds in Retry-After."
                ),
            ),
        }
    }
}

/// Threads of the runtime the calls run on: they mostly wait for the network.
const RPC_THREADS: usize = 2;

/// The configured chains' RPC endpoints, and the runtime their calls run on.
pub struct Chains {
    by_id: HashMap<u64, Arc<ChainEndpoints>>,
    /// Calls in flight at once, at most (`siwe.max_contract_checks`).
    calls: Arc<Semaphore>,
    /// None without any chain. Dropped with `shutdown_background`: a runtime dropped plainly
    /// inside another one's async context panics.
    runtime: Option<Runtime>,
}

impl Chains {
    /// `max_checks`: calls in flight at once (`siwe.max_contract_checks`).
    pub fn new(chains: &[ChainRpc], max_checks: usize) -> anyhow::Result<Self> {
        let runtime = if chains.is_empty() {
            None
        } else {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(RPC_THREADS)
                    .thread_name("chain-rpc")
                    .enable_all()
                    .build()?,
            )
        };
        // reqwest's clients start their connection tasks on the runtime they are built on.
        let by_id = match &runtime {
            Some(runtime) => {
                let _entered = runtime.enter();
                chains
                    .iter()
                    .map(|chain| (chain.chain_id, Arc::new(ChainEndpoints::new(chain))))
                    .collect()
            }
            None => HashMap::new(),
        };
        Ok(Self {
            by_id,
            calls: Arc::new(Semaphore::new(max_checks)),
            runtime,
        })
    }

    /// No chain at all (tools and benches that never check a contract).
    pub fn none() -> Self {
        Self {
            by_id: HashMap::new(),
            calls: Arc::new(Semaphore::new(0)),
            runtime: None,
        }
    }

    pub fn has_rpc(&self, chain_id: u64) -> bool {
        self.by_id.contains_key(&chain_id)
    }

    /// `eth_call` of `call` on `chain_id` (at the latest block; gas capped at
    /// [`CALL_GAS_CAP`]), on this runtime of its own, whatever runtime awaits it: endpoints in
    /// order, each within the chain's timeout. One of at most `max_checks` calls at once: a
    /// call that gets no turn within the timeout is `Unavailable`, as is one no endpoint
    /// answered. Dropping the future cancels the call.
    pub async fn call(
        &self,
        chain_id: u64,
        call: TransactionRequest,
    ) -> Result<CallOutcome, ChainError> {
        let (Some(chain), Some(runtime)) = (self.by_id.get(&chain_id), &self.runtime) else {
            return Err(ChainError::NoRpc(chain_id));
        };
        let chain = Arc::clone(chain);
        let calls = Arc::clone(&self.calls);
        let task = runtime.spawn(async move {
            let Ok(Ok(_turn)) = tokio::time::timeout(chain.timeout(), calls.acquire_owned()).await
            else {
                tracing::warn!(chain_id, "too many RPC calls waiting; call refused");
                return Err(ChainError::Unavailable(chain_id));
            };
            chain.call(call).await
        });
        let _cancel = CancelOnDrop(task.abort_handle());
        task.await.unwrap_or_else(|err| {
            tracing::error!(chain_id, %err, "RPC call task failed");
            Err(ChainError::Unavailable(chain_id))
        })
    }

    /// Whether the wallet contract at `address` on `chain_id` accepts `signature` over `hash`
    /// (the EIP-191 hash of the exact message received): a signature with the EIP-6492 suffix
    /// through the ERC's deployless validator, any other through EIP-1271 `isValidSignature`.
    /// The signature is never logged.
    pub async fn check_signature(
        &self,
        chain_id: u64,
        address: &Address,
        hash: [u8; 32],
        signature: &[u8],
    ) -> Result<Verdict, ChainError> {
        let started = Instant::now();
        let (asked, call) = signature::signature_call(*address.as_bytes(), hash, signature);
        let verdict = match self.call(chain_id, call).await? {
            CallOutcome::Returned(returned) => read_answer(asked, &returned),
            CallOutcome::Reverted => Verdict::Invalid,
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            chain_id,
            %address,
            asked = asked.as_str(),
            ?verdict,
            elapsed_ms,
            "contract signature check"
        );
        Ok(verdict)
    }
}

impl Drop for Chains {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Aborts a task on the chains' runtime when its caller stops waiting for it.
struct CancelOnDrop(AbortHandle);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
