//! The path of a signed message no key signed, on a chain with an RPC endpoint: its nonce is
//! spent, then the wallet contract at its address is asked (EIP-1271, or EIP-6492 for a wallet
//! not deployed yet), then the caller's write runs if the contract accepted it.

use std::sync::Arc;

use super::{
    checked_message::{CheckedMessage, Refused},
    single_use::Spent,
    Service,
};
use crate::{
    chains::Verdict,
    db::Conn,
    domain::siwe::ContractSigner,
    error::{AppError, AppResult, ErrorCode},
};

/// A message whose signature a wallet contract is to judge, and what to do with it.
pub(super) struct ChainCheck<W> {
    pub checked: CheckedMessage,
    pub signer: ContractSigner,
    pub refused: Refused,
    pub write: W,
}

impl Service {
    /// The contract path: the nonce is spent in a writer transaction of its own (so that of
    /// racing requests with one message, one asks the chain, and a policy refusal is answered
    /// without asking it), then the wallet contract is asked on the chains' runtime, then
    /// `write` runs in a second transaction with [`CheckedMessage::contract`] set. A refusal
    /// by the contract is recorded like a policy refusal; an unreachable chain is not (the
    /// nonce stays spent either way).
    pub(super) async fn write_if_contract_accepts<T, W>(
        self: &Arc<Self>,
        check: ChainCheck<W>,
    ) -> AppResult<T>
    where
        T: Send + 'static,
        W: Fn(&Conn, &CheckedMessage) -> AppResult<T> + Send + 'static,
    {
        let ChainCheck {
            mut checked,
            signer,
            refused,
            write,
        } = check;
        let service = Arc::clone(self);
        let spend = (checked.clone(), refused.clone());
        let spent = self
            .db
            .write(move |conn| service.spend_nonce(conn, &spend.0, &spend.1))
            .await?;
        if let Spent::Refused(refusal) = spent {
            return Err(refusal);
        }
        let (chain_id, address) = (signer.chain_id, checked.address);
        let verdict = self
            .chains
            .check_signature(chain_id, &address, signer.hash, &signer.signature)
            .await?;
        match verdict {
            Verdict::Valid => {
                checked.contract = Some(signer);
                self.db.write(move |conn| write(conn, &checked)).await
            }
            Verdict::Invalid => {
                let refusal = AppError::new(
                    ErrorCode::InvalidSignature,
                    format!(
                        "The signature was not made by the address in the message, and no \
                         wallet contract at that address on chain {chain_id} accepts it."
                    ),
                );
                let service = Arc::clone(self);
                let reason = refusal.code().as_str();
                self.db
                    .write(move |conn| service.record_refusal(conn, &address, reason, &refused))
                    .await?;
                Err(refusal)
            }
        }
    }
}
