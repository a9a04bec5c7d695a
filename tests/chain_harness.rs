//! The chain test harness itself (tests/common/anvil.rs, safe.rs, contracts.rs), asked directly
//! with `eth_call`: what the end-to-end tests in contract_wallets.rs rely on.

mod common;

use alloy::primitives::{Address, B256};
use common::{
    anvil::Anvil,
    contracts,
    safe::{
        eip6492_wrap, owner_signature, safe_message_hash, wallet_address, SafeKit, EIP1271_MAGIC,
        EIP6492_MAGIC,
    },
    Wallet,
};

/// The harness itself: a fresh Safe accepts its owner's signature of a hash (asked directly with
/// `eth_call`), the off-chain SafeMessage hash is the Safe's own, and a stranger is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_safe_accepts_its_owners_signature() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let owner = Wallet::random();
    let safe = kit.create_safe(&owner, 1).await;
    let hash = B256::repeat_byte(0x42);

    assert_eq!(
        kit.message_hash_onchain(safe, hash).await,
        safe_message_hash(anvil.chain_id, safe, hash)
    );
    let signature = owner_signature(anvil.chain_id, safe, &owner, hash);
    assert_eq!(signature.len(), 65);
    assert_eq!(
        kit.is_valid_signature(safe, hash, &signature).await,
        Some(EIP1271_MAGIC)
    );
    let stranger = owner_signature(anvil.chain_id, safe, &Wallet::random(), hash);
    assert_ne!(
        kit.is_valid_signature(safe, hash, &stranger).await,
        Some(EIP1271_MAGIC)
    );

    // After the swap the new owner signs and the old one no longer does.
    let new_owner = Wallet::random();
    kit.swap_owner(safe, &owner, wallet_address(&new_owner))
        .await;
    assert_ne!(
        kit.is_valid_signature(safe, hash, &signature).await,
        Some(EIP1271_MAGIC)
    );
    let by_new = owner_signature(anvil.chain_id, safe, &new_owner, hash);
    assert_eq!(
        kit.is_valid_signature(safe, hash, &by_new).await,
        Some(EIP1271_MAGIC)
    );

    // A counterfactual Safe: predicted, not deployed; its wrapper ends with the 6492 suffix.
    let (future, factory, calldata) = kit.counterfactual(&owner, 2).await;
    assert!(anvil.code_at(future).await.is_empty());
    let wrapped = eip6492_wrap(
        factory,
        &calldata,
        &owner_signature(anvil.chain_id, future, &owner, hash),
    );
    assert!(wrapped.ends_with(&EIP6492_MAGIC));
}

/// The misbehaving contracts do what their names say, asked directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_contracts_answer_as_intended() {
    let anvil = Anvil::start().await;
    let kit = SafeKit::deploy(&anvil).await;
    let hash = B256::repeat_byte(7);
    let signature = [1u8; 65];
    let at = |byte| Address::repeat_byte(byte);

    anvil.set_code(at(0xa1), contracts::WRONG_MAGIC).await;
    assert_eq!(
        kit.is_valid_signature(at(0xa1), hash, &signature).await,
        Some([0xde, 0xad, 0xbe, 0xef])
    );
    anvil.set_code(at(0xa2), contracts::ALWAYS_REVERTS).await;
    assert_eq!(
        kit.is_valid_signature(at(0xa2), hash, &signature).await,
        None
    );
    anvil.set_code(at(0xa3), contracts::LOOPS_FOREVER).await;
    let out_of_gas = anvil.try_call(at(0xa3), vec![0; 4]).await.unwrap_err();
    assert!(out_of_gas.contains("OutOfGas"), "{out_of_gas}");
}
