//! Contracts that misbehave as EIP-1271 wallets (tiny runtime codes, assembled by hand, put at an
//! address with `anvil_setCode`) and JSON-RPC endpoints that misbehave (one that never answers,
//! one that refuses connections).

use std::net::SocketAddr;

use tokio::{net::TcpListener, task::JoinHandle};

/// Returns `0xdeadbeef` padded to 32 bytes, whatever it is asked: a wrong EIP-1271 magic value.
pub const WRONG_MAGIC: &[u8] = &[
    0x63, 0xde, 0xad, 0xbe, 0xef, // PUSH4 0xdeadbeef
    0x60, 0xe0, // PUSH1 224
    0x1b, // SHL: 0xdeadbeef in the word's first 4 bytes (where a bytes4 lives)
    0x60, 0x00, // PUSH1 0
    0x52, // MSTORE: memory[0..32] = that word
    0x60, 0x20, // PUSH1 32 (size)
    0x60, 0x00, // PUSH1 0 (offset)
    0xf3, // RETURN memory[0..32]
];

/// Reverts on every call, with no reason.
pub const ALWAYS_REVERTS: &[u8] = &[
    0x60, 0x00, // PUSH1 0 (size)
    0x60, 0x00, // PUSH1 0 (offset)
    0xfd, // REVERT
];

/// Loops until the call runs out of gas.
pub const LOOPS_FOREVER: &[u8] = &[
    0x5b, // JUMPDEST (offset 0)
    0x60, 0x00, // PUSH1 0
    0x56, // JUMP back to offset 0
];

/// A TCP listener on loopback that accepts connections and never answers: a
/// JSON-RPC endpoint that hangs. Stops listening on drop.
pub struct HangingRpc {
    pub url: String,
    task: JoinHandle<()>,
}

impl HangingRpc {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            // The kernel buffers the request; holding the socket open without reading or
            // writing makes the client wait for an answer that never comes.
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Self {
            url: format!("http://{addr}"),
            task,
        }
    }
}

impl Drop for HangingRpc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback URL where nothing listens (connections are refused at once).
pub fn dead_rpc_url() -> String {
    format!("http://127.0.0.1:{}", super::anvil::free_port())
}
