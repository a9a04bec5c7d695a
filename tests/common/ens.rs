//! ENS on a local chain, from the published artifacts: `ENSRegistry` and `ReverseRegistrar`
//! (@ensdomains/ens 0.6.2) and `PublicResolver` (@ensdomains/resolver 0.3.1). The deployer owns
//! the root and `eth`, `addr.reverse` belongs to the reverse registrar, and each name gets the
//! public resolver with an address and an `avatar` text record.

use alloy::{
    primitives::{keccak256, Address, B256},
    sol,
    sol_types::{SolCall, SolValue},
};

use super::{
    anvil::{artifact_bytecode, signer_of, Anvil},
    Wallet,
};

sol! {
    interface Registry {
        function setSubnodeOwner(bytes32 node, bytes32 label, address owner) external returns (bytes32);
        function setResolver(bytes32 node, address resolver) external;
        function setOwner(bytes32 node, address owner) external;
    }

    interface Resolver {
        function setAddr(bytes32 node, address a) external;
        function setText(bytes32 node, string key, string value) external;
    }

    interface ReverseRegistrar {
        function setName(string name) external returns (bytes32);
    }
}

/// The ENS contracts deployed on one anvil.
pub struct EnsKit<'a> {
    pub anvil: &'a Anvil,
    pub registry: Address,
    pub resolver: Address,
    pub reverse_registrar: Address,
}

impl<'a> EnsKit<'a> {
    pub async fn deploy(anvil: &'a Anvil) -> Self {
        let registry = anvil
            .deploy(artifact_bytecode(
                "@ensdomains/ens/build/contracts/ENSRegistry.json",
            ))
            .await;
        let mut code =
            artifact_bytecode("@ensdomains/resolver/build/contracts/PublicResolver.json");
        code.extend(registry.abi_encode());
        let resolver = anvil.deploy(code).await;
        let mut code = artifact_bytecode("@ensdomains/ens/build/contracts/ReverseRegistrar.json");
        code.extend((registry, resolver).abi_encode_params());
        let reverse_registrar = anvil.deploy(code).await;
        let kit = Self {
            anvil,
            registry,
            resolver,
            reverse_registrar,
        };
        let deployer = anvil.deployer_address();
        kit.set_subnode_owner(B256::ZERO, "eth", deployer).await;
        kit.set_subnode_owner(B256::ZERO, "reverse", deployer).await;
        kit.set_subnode_owner(alloy::ens::namehash("reverse"), "addr", reverse_registrar)
            .await;
        kit
    }

    async fn set_subnode_owner(&self, parent: B256, label: &str, owner: Address) {
        let call = Registry::setSubnodeOwnerCall {
            node: parent,
            label: keccak256(label),
            owner,
        };
        self.anvil.send(self.registry, call.abi_encode()).await;
    }

    /// Registers `<label>.eth` pointing at `points_to`, with an `avatar` record, owned by
    /// `owner` afterwards.
    pub async fn register(&self, label: &str, points_to: Address, avatar: &str, owner: Address) {
        let eth = alloy::ens::namehash("eth");
        self.set_subnode_owner(eth, label, self.anvil.deployer_address())
            .await;
        let node = alloy::ens::namehash(&format!("{label}.eth"));
        let set_resolver = Registry::setResolverCall {
            node,
            resolver: self.resolver,
        };
        self.anvil
            .send(self.registry, set_resolver.abi_encode())
            .await;
        let set_addr = Resolver::setAddrCall { node, a: points_to };
        self.anvil.send(self.resolver, set_addr.abi_encode()).await;
        let set_text = Resolver::setTextCall {
            node,
            key: "avatar".into(),
            value: avatar.into(),
        };
        self.anvil.send(self.resolver, set_text.abi_encode()).await;
        let set_owner = Registry::setOwnerCall { node, owner };
        self.anvil.send(self.registry, set_owner.abi_encode()).await;
    }

    /// The wallet itself (its key, funded) sets its reverse record to `name`.
    pub async fn set_primary_name(&self, wallet: &Wallet, name: &str) {
        let call = ReverseRegistrar::setNameCall { name: name.into() };
        self.anvil
            .send_from(
                &signer_of(wallet),
                self.reverse_registrar,
                call.abi_encode(),
            )
            .await;
    }
}
