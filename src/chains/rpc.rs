//! One chain's JSON-RPC endpoints, tried in order: each is first asked its chain id (once, until
//! it answers the configured one), then the call is made under the chain's timeout. An error
//! the EVM gave while executing the call is the contract's answer; any other failure moves on
//! to the next endpoint. Logs name an endpoint by scheme, host and port only: its path or query
//! may carry an API key.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use alloy::{
    eips::BlockId,
    primitives::Bytes,
    providers::{Provider, RootProvider},
    rpc::types::TransactionRequest,
    transports::{TransportError, TransportErrorKind},
};

use super::ChainError;
use crate::config::ChainRpc;

/// Gas an `eth_call` may burn at most: plenty for any wallet's signature check, and a bound on
/// what one check costs the node.
pub const CALL_GAS_CAP: u64 = 10_000_000;

/// How an `eth_call` ended, as far as the contract is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// The call ran and returned these bytes (none when there is no code at the address).
    Returned(Bytes),
    /// The EVM stopped the call: a revert, out of gas, an invalid opcode.
    Reverted,
}

/// Why an endpoint gave no answer; logged, never shown to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Failure {
    Timeout,
    /// It serves another chain than the one configured.
    WrongChain(u64),
    HttpStatus(u16),
    /// A JSON-RPC error that is not about executing the call (rate limit, unknown method...).
    Rpc(i64),
    /// Connection refused or reset, TLS, a response that is not JSON-RPC...
    Transport,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("timeout"),
            Failure::WrongChain(id) => write!(f, "serves chain {id}"),
            Failure::HttpStatus(status) => write!(f, "HTTP status {status}"),
            Failure::Rpc(code) => write!(f, "JSON-RPC error {code}"),
            Failure::Transport => f.write_str("transport error"),
        }
    }
}

/// One configured URL.
struct Endpoint {
    provider: RootProvider,
    /// scheme://host:port, what logs may say of it.
    origin: String,
    /// Set once it answered `eth_chainId` with the configured chain.
    chain_confirmed: AtomicBool,
}

/// A chain's endpoints in the configured order, and how long each may take.
pub(super) struct ChainEndpoints {
    chain_id: u64,
    timeout: Duration,
    endpoints: Vec<Endpoint>,
}

impl ChainEndpoints {
    pub(super) fn new(chain: &ChainRpc) -> Self {
        let endpoints = chain
            .rpc_urls
            .iter()
            .map(|url| Endpoint {
                provider: RootProvider::new_http(url.clone()),
                origin: url.origin().ascii_serialization(),
                chain_confirmed: AtomicBool::new(false),
            })
            .collect();
        Self {
            chain_id: chain.chain_id,
            timeout: chain.timeout,
            endpoints,
        }
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `eth_call` of `call` (at the latest block, gas capped unless it says less) on the first
    /// endpoint that answers within the timeout; `Unavailable` when none does.
    pub(super) async fn call(&self, call: TransactionRequest) -> Result<CallOutcome, ChainError> {
        let gas = call.gas.map_or(CALL_GAS_CAP, |gas| gas.min(CALL_GAS_CAP));
        let call = call.gas_limit(gas);
        for endpoint in &self.endpoints {
            let started = Instant::now();
            let attempt = tokio::time::timeout(self.timeout, self.attempt(endpoint, &call))
                .await
                .unwrap_or(Err(Failure::Timeout));
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let (chain_id, endpoint) = (self.chain_id, endpoint.origin.as_str());
            match attempt {
                Ok(outcome) => {
                    let said = match &outcome {
                        CallOutcome::Returned(_) => "returned",
                        CallOutcome::Reverted => "reverted",
                    };
                    tracing::info!(chain_id, endpoint, elapsed_ms, outcome = said, "eth_call");
                    return Ok(outcome);
                }
                Err(Failure::WrongChain(served)) => tracing::error!(
                    chain_id,
                    endpoint,
                    served,
                    "RPC endpoint serves another chain than configured; skipped"
                ),
                Err(failure) => tracing::warn!(
                    chain_id,
                    endpoint,
                    elapsed_ms,
                    outcome = %failure,
                    "eth_call failed; trying the next endpoint"
                ),
            }
        }
        Err(ChainError::Unavailable(self.chain_id))
    }

    /// The chain id check (until it passed once), then the call, on one endpoint.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        call: &TransactionRequest,
    ) -> Result<CallOutcome, Failure> {
        if !endpoint.chain_confirmed.load(Ordering::Relaxed) {
            let served = endpoint
                .provider
                .get_chain_id()
                .await
                .map_err(|err| classify(&err).err().unwrap_or(Failure::Transport))?;
            if served != self.chain_id {
                return Err(Failure::WrongChain(served));
            }
            endpoint.chain_confirmed.store(true, Ordering::Relaxed);
        }
        match endpoint
            .provider
            .call(call.clone())
            .block(BlockId::latest())
            .await
        {
            Ok(returned) => Ok(CallOutcome::Returned(returned)),
            Err(err) => classify(&err),
        }
    }
}

/// A failed call read: an execution error is the contract's answer, anything else a failure
/// of the endpoint.
pub(super) fn classify(err: &TransportError) -> Result<CallOutcome, Failure> {
    match err {
        TransportError::ErrorResp(payload)
            if is_execution_error(payload.code, &payload.message) =>
        {
            Ok(CallOutcome::Reverted)
        }
        TransportError::ErrorResp(payload) => Err(Failure::Rpc(payload.code)),
        TransportError::Transport(TransportErrorKind::HttpError(http)) => {
            Err(Failure::HttpStatus(http.status))
        }
        TransportError::Transport(TransportErrorKind::HttpErrorWithRetryAfter {
            error, ..
        }) => Err(Failure::HttpStatus(error.status)),
        _ => Err(Failure::Transport),
    }
}

/// Whether a JSON-RPC error says the EVM stopped the call: geth, reth and anvil use code 3 for a
/// revert (with its data), and -32000 or -32015 (anvil: -32603 "EVM error OutOfGas") with such
/// a message for the rest.
fn is_execution_error(code: i64, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    code == 3
        || (matches!(code, -32000 | -32015 | -32603)
            && [
                "revert",
                "out of gas",
                "outofgas",
                "execution",
                "invalid opcode",
                "evm error",
            ]
            .iter()
            .any(|said| message.contains(said)))
}
