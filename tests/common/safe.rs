//! Safe 1.4.1 smart accounts on anvil: the singleton, proxy factory and fallback handler from the
//! official artifacts; a one-owner Safe per test; the owner's signature of a message hash as the
//! Safe checks it (EIP-1271); the owner swapped; a counterfactual Safe with an EIP-6492 wrapper.

use alloy::{
    primitives::{address, keccak256, Address, Bytes, B256, U256},
    signers::SignerSync,
    sol,
    sol_types::{SolCall, SolValue},
};

use super::{
    anvil::{artifact_bytecode, signer_of, Anvil},
    Wallet,
};

sol! {
    function createProxyWithNonce(address singleton, bytes initializer, uint256 saltNonce)
        returns (address proxy);
    function setup(
        address[] owners,
        uint256 threshold,
        address to,
        bytes data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address paymentReceiver
    );
    function execTransaction(
        address to,
        uint256 value,
        bytes data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address refundReceiver,
        bytes signatures
    ) returns (bool success);
    function swapOwner(address prevOwner, address oldOwner, address newOwner);
    function getOwners() returns (address[] owners);
    function getMessageHash(bytes message) returns (bytes32 hash);
    function isValidSignature(bytes32 hash, bytes signature) returns (bytes4 magic);
}

const ARTIFACTS: &str = "@safe-global/safe-contracts/build/artifacts/contracts";
/// The head of Safe's owner list (OwnerManager.SENTINEL_OWNERS).
const SENTINEL_OWNERS: Address = address!("0000000000000000000000000000000000000001");
/// The suffix that marks an EIP-6492 signature.
pub const EIP6492_MAGIC: [u8; 32] = [
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
    0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92, 0x64, 0x92,
];
/// What `isValidSignature(bytes32,bytes)` returns for a valid signature (EIP-1271).
pub const EIP1271_MAGIC: [u8; 4] = [0x16, 0x26, 0xba, 0x7e];

/// The Safe contracts deployed on one anvil.
pub struct SafeKit<'a> {
    pub anvil: &'a Anvil,
    pub singleton: Address,
    pub factory: Address,
    pub fallback_handler: Address,
}

impl<'a> SafeKit<'a> {
    pub async fn deploy(anvil: &'a Anvil) -> Self {
        let singleton = anvil
            .deploy(artifact_bytecode(&format!(
                "{ARTIFACTS}/Safe.sol/Safe.json"
            )))
            .await;
        let factory = anvil
            .deploy(artifact_bytecode(&format!(
                "{ARTIFACTS}/proxies/SafeProxyFactory.sol/SafeProxyFactory.json"
            )))
            .await;
        let fallback_handler = anvil
            .deploy(artifact_bytecode(&format!(
                "{ARTIFACTS}/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"
            )))
            .await;
        Self {
            anvil,
            singleton,
            factory,
            fallback_handler,
        }
    }

    /// The factory call that creates a Safe owned by `owner` alone (threshold 1).
    pub fn creation_calldata(&self, owner: Address, salt: u64) -> Vec<u8> {
        let initializer = setupCall {
            owners: vec![owner],
            threshold: U256::from(1),
            to: Address::ZERO,
            data: Bytes::new(),
            fallbackHandler: self.fallback_handler,
            paymentToken: Address::ZERO,
            payment: U256::ZERO,
            paymentReceiver: Address::ZERO,
        }
        .abi_encode();
        createProxyWithNonceCall {
            singleton: self.singleton,
            initializer: initializer.into(),
            saltNonce: U256::from(salt),
        }
        .abi_encode()
    }

    /// Deploys a Safe owned by `owner` alone; returns its address.
    pub async fn create_safe(&self, owner: &Wallet, salt: u64) -> Address {
        let (safe, factory, calldata) = self.counterfactual(owner, salt).await;
        self.anvil.send(factory, calldata).await;
        assert!(!self.anvil.code_at(safe).await.is_empty(), "Safe deployed");
        safe
    }

    /// A Safe that is not deployed: its future address (predicted by an `eth_call` of the
    /// factory, nothing sent), the factory and the calldata that would deploy it.
    pub async fn counterfactual(&self, owner: &Wallet, salt: u64) -> (Address, Address, Vec<u8>) {
        let calldata = self.creation_calldata(wallet_address(owner), salt);
        let returned = self.anvil.call(self.factory, calldata.clone()).await;
        let safe = createProxyWithNonceCall::abi_decode_returns(&returned).unwrap();
        (safe, self.factory, calldata)
    }

    /// The owners of a deployed Safe.
    pub async fn owners(&self, safe: Address) -> Vec<Address> {
        let returned = self.anvil.call(safe, getOwnersCall {}.abi_encode()).await;
        getOwnersCall::abi_decode_returns(&returned).unwrap()
    }

    /// Replaces the Safe's only owner `old_owner` by `new_owner`: a transaction of the Safe
    /// approved by the old owner sending it (a pre-validated signature: r = owner, s = 0, v = 1).
    pub async fn swap_owner(&self, safe: Address, old_owner: &Wallet, new_owner: Address) {
        let old = signer_of(old_owner);
        let swap = swapOwnerCall {
            prevOwner: SENTINEL_OWNERS,
            oldOwner: old.address(),
            newOwner: new_owner,
        }
        .abi_encode();
        let mut approval = B256::left_padding_from(old.address().as_slice()).to_vec();
        approval.extend_from_slice(&[0u8; 32]);
        approval.push(1);
        let exec = execTransactionCall {
            to: safe,
            value: U256::ZERO,
            data: swap.into(),
            operation: 0,
            safeTxGas: U256::ZERO,
            baseGas: U256::ZERO,
            gasPrice: U256::ZERO,
            gasToken: Address::ZERO,
            refundReceiver: Address::ZERO,
            signatures: approval.into(),
        }
        .abi_encode();
        self.anvil.send_from(&old, safe, exec).await;
        assert_eq!(self.owners(safe).await, vec![new_owner], "owner swapped");
    }

    /// Asks the Safe itself (`eth_call` of EIP-1271 `isValidSignature`) whether `signature`
    /// signs `hash`: its 4-byte answer, or None when the call reverts.
    pub async fn is_valid_signature(
        &self,
        safe: Address,
        hash: B256,
        signature: &[u8],
    ) -> Option<[u8; 4]> {
        let call = isValidSignatureCall {
            hash,
            signature: Bytes::copy_from_slice(signature),
        }
        .abi_encode();
        let returned = self.anvil.try_call(safe, call).await.ok()?;
        Some(
            isValidSignatureCall::abi_decode_returns(&returned)
                .unwrap()
                .0,
        )
    }

    /// The Safe's own `getMessageHash(abi.encode(hash))` (deployed Safes only).
    pub async fn message_hash_onchain(&self, safe: Address, hash: B256) -> B256 {
        let call = getMessageHashCall {
            message: hash.abi_encode().into(),
        }
        .abi_encode();
        let returned = self.anvil.call(safe, call).await;
        getMessageHashCall::abi_decode_returns(&returned).unwrap()
    }
}

/// The EIP-712 SafeMessage hash the owners of `safe` sign for EIP-1271 `hash`: what the
/// fallback handler's `getMessageHash(abi.encode(hash))` returns, computed off-chain so that it
/// also serves a Safe not deployed yet.
pub fn safe_message_hash(chain_id: u64, safe: Address, hash: B256) -> B256 {
    let domain_type = keccak256("EIP712Domain(uint256 chainId,address verifyingContract)");
    let domain = keccak256((domain_type, U256::from(chain_id), safe).abi_encode());
    let message_type = keccak256("SafeMessage(bytes message)");
    let message = keccak256((message_type, keccak256(hash.abi_encode())).abi_encode());
    let mut typed = vec![0x19, 0x01];
    typed.extend_from_slice(domain.as_slice());
    typed.extend_from_slice(message.as_slice());
    keccak256(typed)
}

/// The 65-byte signature (r || s || v, v 27/28) by `owner` that `safe` accepts for `hash`.
pub fn owner_signature(chain_id: u64, safe: Address, owner: &Wallet, hash: B256) -> Vec<u8> {
    let digest = safe_message_hash(chain_id, safe, hash);
    let signature = signer_of(owner).sign_hash_sync(&digest).unwrap();
    signature.as_bytes().to_vec()
}

/// The EIP-6492 form of a counterfactual account's signature:
/// `abi.encode(factory, factoryCalldata, signature) ++ 0x6492…6492`.
pub fn eip6492_wrap(factory: Address, calldata: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut wrapped = (
        factory,
        Bytes::copy_from_slice(calldata),
        Bytes::copy_from_slice(signature),
    )
        .abi_encode_params();
    wrapped.extend_from_slice(&EIP6492_MAGIC);
    wrapped
}

/// The hash a contract wallet signs for a SIWE message: EIP-191 of the exact message text.
pub fn siwe_hash(message: &str) -> B256 {
    alloy::primitives::eip191_hash_message(message)
}

pub fn wallet_address(wallet: &Wallet) -> Address {
    wallet.address.parse().unwrap()
}

/// `0x`-prefixed hex, as the API takes signatures.
pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
