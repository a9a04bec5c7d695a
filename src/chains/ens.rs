//! A wallet's ENS primary name (ENSIP-19 as it applies to Ethereum mainnet, coin type 60): the
//! `name` of the reverse node `<lowercase hex address>.addr.reverse`, kept only when the name's
//! own resolver gives back the same address (`addr`), with the name's `avatar` text record.
//! Resolvers are found in the configured registry by exact node (no ENSIP-10 wildcard and no
//! CCIP-Read, which mainnet primary names do not need).

use alloy::{
    ens::{namehash, reverse_address},
    primitives::{Address as ChainAddress, B256},
    rpc::types::{TransactionInput, TransactionRequest},
    sol,
    sol_types::SolCall,
};

use super::{CallOutcome, ChainError, Chains};
use crate::{
    config::Ens,
    domain::{
        address::Address,
        ens::{displayable_avatar, is_displayable_name, EnsName},
    },
};

sol! {
    /// The ENS registry (EIP-137).
    interface EnsRegistry {
        function resolver(bytes32 node) external view returns (address);
    }

    /// A resolver's profiles this server reads: reverse name (EIP-181), address (EIP-137),
    /// text records (EIP-634).
    interface EnsResolver {
        function name(bytes32 node) external view returns (string);
        function addr(bytes32 node) external view returns (address);
        function text(bytes32 node, string key) external view returns (string);
    }
}

impl Chains {
    /// The primary name of `address` in the registry of `ens`, or none: no reverse record, an
    /// empty or undisplayable name, or a name whose address is not `address`. A resolver that
    /// reverts or answers nonsense counts as no record; only an unreachable chain is an error.
    pub async fn primary_name(
        &self,
        ens: &Ens,
        address: &Address,
    ) -> Result<Option<EnsName>, ChainError> {
        let wallet = ChainAddress::from(*address.as_bytes());
        let reverse_node = namehash(&reverse_address(&wallet));
        let Some(reverse_resolver) = self.resolver(ens, reverse_node).await? else {
            return Ok(None);
        };
        let name_call = EnsResolver::nameCall { node: reverse_node };
        let Some(name) = self.view(ens.chain_id, reverse_resolver, name_call).await? else {
            return Ok(None);
        };
        if !is_displayable_name(&name) {
            return Ok(None);
        }
        let node = namehash(&name);
        let Some(resolver) = self.resolver(ens, node).await? else {
            return Ok(None);
        };
        let addr_call = EnsResolver::addrCall { node };
        if self.view(ens.chain_id, resolver, addr_call).await? != Some(wallet) {
            return Ok(None);
        }
        let avatar_call = EnsResolver::textCall {
            node,
            key: "avatar".into(),
        };
        let avatar = self.view(ens.chain_id, resolver, avatar_call).await?;
        Ok(Some(EnsName {
            name,
            avatar: avatar.as_deref().and_then(displayable_avatar),
        }))
    }

    /// The resolver the registry names for `node`, if any.
    async fn resolver(&self, ens: &Ens, node: B256) -> Result<Option<ChainAddress>, ChainError> {
        let registry = ChainAddress::from(ens.registry);
        let call = EnsRegistry::resolverCall { node };
        Ok(self
            .view(ens.chain_id, registry, call)
            .await?
            .filter(|resolver| !resolver.is_zero()))
    }

    /// Calls a view function of `to`; `None` when the call reverted or its answer does not
    /// decode (no code at `to`, another interface).
    async fn view<C: SolCall>(
        &self,
        chain_id: u64,
        to: ChainAddress,
        call: C,
    ) -> Result<Option<C::Return>, ChainError> {
        let request = TransactionRequest::default()
            .to(to)
            .input(TransactionInput::both(call.abi_encode().into()));
        Ok(match self.call(chain_id, request).await? {
            CallOutcome::Returned(bytes) => C::abi_decode_returns(&bytes).ok(),
            CallOutcome::Reverted => None,
        })
    }
}
