//! The two EIP-1271 conformance vectors (tests/vectors/verification/eip1271.json: an Argent and
//! a Loopring wallet on Ethereum mainnet) checked by a real node. This machine cannot reach
//! mainnet and neither wallet's bytecode is published in a package, so anvil runs as chain 1 with,
//! at each vector's address, a wallet contract that applies the rule both wallets apply to a
//! one-owner signature: `ecrecover(hash, r, s, v)` must be the owner (the owner being the key the
//! vector's signature was made with). What the vectors then prove is our side: the EIP-191 hash of
//! the exact message bytes, the signature passed as received (Loopring's is 66 bytes: a trailing
//! signature-type byte), the EIP-1271 call and the magic value.

mod common;

use std::time::Duration;

use alloy::primitives::{eip191_hash_message, Address as EthAddress, Signature};
use common::anvil::Anvil;
use serde_json::{Map, Value};
use siwe_server::{
    chains::{Chains, Verdict},
    config::ChainRpc,
    domain::{address::Address, siwe},
};

fn vectors() -> Map<String, Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/verification/eip1271.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runtime code of a one-owner wallet: `isValidSignature(bytes32 hash, bytes signature)` returns
/// the magic value `0x1626ba7e` when `ecrecover(hash, v, r, s)` of the signature's first 65 bytes
/// (r, s, v) is `owner`, and reverts otherwise. Assumes the standard ABI layout (the bytes at
/// offset 0x40: length at 0x44, data from 0x64 of the call data).
fn owner_wallet_code(owner: EthAddress) -> Vec<u8> {
    let mut code = vec![
        0x60, 0x04, 0x35, 0x60, 0x00, 0x52, // memory[0x00] = hash (calldata 4)
        0x60, 0xa4, 0x35, 0x60, 0xf8, 0x1c, 0x60, 0x20,
        0x52, // memory[0x20] = v (byte 0x64 + 64)
        0x60, 0x64, 0x35, 0x60, 0x40, 0x52, // memory[0x40] = r
        0x60, 0x84, 0x35, 0x60, 0x60, 0x52, // memory[0x60] = s
        // STATICCALL(gas, 0x01 ecrecover, in 0x00..0x80, out 0x00..0x20), result dropped
        0x60, 0x20, 0x60, 0x00, 0x60, 0x80, 0x60, 0x00, 0x60, 0x01, 0x5a, 0xfa, 0x50, 0x60, 0x00,
        0x51, // MLOAD 0: the recovered address (the hash itself if none)
        0x73, // PUSH20 owner
    ];
    code.extend_from_slice(owner.as_slice());
    code.extend_from_slice(&[
        0x14, 0x60, 0x49, 0x57, // EQ, JUMPI to offset 0x49
        0x60, 0x00, 0x60, 0x00, 0xfd, // REVERT
        0x5b, // JUMPDEST (0x49)
        0x63, 0x16, 0x26, 0xba, 0x7e, 0x60, 0xe0, 0x1b, // 0x1626ba7e << 224
        0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3, // RETURN the word
    ]);
    assert_eq!(code[0x49], 0x5b, "the jump target is the JUMPDEST");
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eip1271_vectors_verify_on_a_chain() {
    let anvil = Anvil::start_with_chain_id(1).await;
    let rpc = ChainRpc {
        chain_id: 1,
        rpc_urls: vec![anvil.url.parse().unwrap()],
        timeout: Duration::from_secs(5),
    };
    let chains = Chains::new(&[rpc], 4).unwrap();
    let vectors = vectors();
    assert_eq!(vectors.len(), 2);
    for (name, vector) in &vectors {
        let text = vector["message"].as_str().unwrap();
        let parsed = siwe::parse_message(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let wallet = Address::from_bytes(parsed.message.address);
        let signature = hex::decode(
            vector["signature"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        let hash = eip191_hash_message(text);
        let owner = Signature::from_raw(&signature[..65])
            .unwrap()
            .recover_address_from_prehash(&hash)
            .unwrap();
        let at = EthAddress::from(*wallet.as_bytes());
        anvil.set_code(at, &owner_wallet_code(owner)).await;

        let verdict = chains
            .check_signature(1, &wallet, hash.0, &signature)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verdict, Verdict::Valid, "{name}");

        // The same signature over any other bytes (one character of the message changed) is
        // refused by the same contract.
        let altered = eip191_hash_message(text.replacen("SIWE", "SIWF", 1));
        let verdict = chains
            .check_signature(1, &wallet, altered.0, &signature)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verdict, Verdict::Invalid, "{name}: altered message");
    }
}
