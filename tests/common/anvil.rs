//! A real local chain for tests: one anvil process per test on a free loopback port, killed on
//! drop, with a funded deployer that deploys artifacts and sends transactions through alloy.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
};

use siwe_server::{
    config::{ChainSettings, OneOrMany},
    Settings,
};

use super::{MessageSpec, TestApp, Wallet};

/// The npm packages of the chain suite (anvil, Safe and ENS artifacts).
pub fn node_modules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/suites/chain/node_modules")
}

fn anvil_binary() -> PathBuf {
    let path = std::env::var_os("ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| node_modules().join("@foundry-rs/anvil-linux-amd64/bin/anvil"));
    assert!(
        path.is_file(),
        "anvil not found at {}: run bash tests/suites/setup.sh",
        path.display()
    );
    path
}

/// The creation bytecode of a Hardhat or Truffle artifact (both name it "bytecode"), by its path
/// under the chain suite's node_modules.
pub fn artifact_bytecode(relative: &str) -> Vec<u8> {
    let path = node_modules().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "artifact {} unreadable ({e}): run bash tests/suites/setup.sh",
            path.display()
        )
    });
    let artifact: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hex_code = artifact["bytecode"]
        .as_str()
        .expect("artifact has bytecode");
    hex::decode(hex_code.trim_start_matches("0x")).expect("bytecode is hex (no link references)")
}

/// The alloy signer of a test wallet's key.
pub fn signer_of(wallet: &Wallet) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::from(wallet.key_bytes())).unwrap()
}

pub struct Anvil {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub chain_id: u64,
    pub deployer: PrivateKeySigner,
    /// Reads and unsigned requests (`anvil_*`), and the deployer's transactions.
    pub provider: DynProvider,
    child: Child,
}

impl Anvil {
    /// Anvil with chain id 31337.
    pub async fn start() -> Self {
        Self::start_with_chain_id(31337).await
    }

    pub async fn start_with_chain_id(chain_id: u64) -> Self {
        let binary = anvil_binary();
        // A port another process takes between our probe and anvil's bind makes anvil exit: retry.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args([
                    "--chain-id",
                    &chain_id.to_string(),
                    "--accounts",
                    "1",
                    "--quiet",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("anvil starts");
            let url = format!("http://127.0.0.1:{port}");
            // A fresh key funded with anvil_setBalance once anvil answers.
            let deployer = PrivateKeySigner::random();
            let provider = ProviderBuilder::new()
                .wallet(EthereumWallet::from(deployer.clone()))
                .connect_http(url.parse().unwrap())
                .erased();
            let mut anvil = Self {
                url,
                chain_id,
                deployer,
                provider,
                child,
            };
            if anvil.wait_ready().await {
                let deployer = anvil.deployer_address();
                anvil
                    .set_balance(deployer, U256::from(10u128.pow(24)))
                    .await;
                return anvil;
            }
        }
        panic!("anvil did not start");
    }

    /// Waits until anvil answers `eth_chainId` with our id; false if the process exited.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(id) = self.provider.get_chain_id().await {
                assert_eq!(id, self.chain_id, "another node answers on our port");
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("anvil did not answer eth_chainId within 20 s");
    }

    pub fn deployer_address(&self) -> Address {
        self.deployer.address()
    }

    /// Deploys creation code (bytecode ++ ABI-encoded constructor arguments) from the deployer.
    pub async fn deploy(&self, creation_code: Vec<u8>) -> Address {
        let tx = TransactionRequest::default().with_deploy_code(creation_code);
        let receipt = submit(&self.provider, tx).await;
        receipt
            .contract_address
            .expect("a deployment receipt has the address")
    }

    /// A transaction from the deployer; panics unless it succeeded.
    pub async fn send(&self, to: Address, calldata: Vec<u8>) -> TransactionReceipt {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(calldata);
        submit(&self.provider, tx).await
    }

    /// A transaction from `key`'s address (funded first); panics unless it succeeded.
    pub async fn send_from(
        &self,
        key: &PrivateKeySigner,
        to: Address,
        calldata: Vec<u8>,
    ) -> TransactionReceipt {
        self.set_balance(key.address(), U256::from(10u128.pow(20)))
            .await;
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(key.clone()))
            .connect_http(self.url.parse().unwrap());
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(calldata);
        submit(&provider, tx).await
    }

    /// `eth_call` from the deployer at the latest block; panics on a revert.
    pub async fn call(&self, to: Address, calldata: Vec<u8>) -> Bytes {
        self.try_call(to, calldata)
            .await
            .expect("eth_call succeeds")
    }

    /// `eth_call` from the deployer at the latest block: the returned bytes or the node's error.
    pub async fn try_call(&self, to: Address, calldata: Vec<u8>) -> Result<Bytes, String> {
        let tx = TransactionRequest::default()
            .with_from(self.deployer_address())
            .with_to(to)
            .with_input(calldata);
        self.provider.call(tx).await.map_err(|e| e.to_string())
    }

    /// The code at `address` (empty for an account without code).
    pub async fn code_at(&self, address: Address) -> Bytes {
        self.provider.get_code_at(address).await.unwrap()
    }

    /// `anvil_setCode`: puts runtime `code` at `address`.
    pub async fn set_code(&self, address: Address, code: &[u8]) {
        let () = self
            .provider
            .raw_request(
                "anvil_setCode".into(),
                (address, Bytes::copy_from_slice(code)),
            )
            .await
            .unwrap();
    }

    /// `anvil_setBalance`.
    pub async fn set_balance(&self, address: Address, wei: U256) {
        let () = self
            .provider
            .raw_request("anvil_setBalance".into(), (address, wei))
            .await
            .unwrap();
    }
}

async fn submit<P: Provider>(provider: &P, tx: TransactionRequest) -> TransactionReceipt {
    let receipt = provider
        .send_transaction(tx)
        .await
        .expect("transaction accepted")
        .get_receipt()
        .await
        .expect("transaction mined");
    assert!(receipt.status(), "transaction reverted: {receipt:?}");
    receipt
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `[chains."<chain_id>"]` served by `urls`, tried in order, each given `timeout_ms`.
pub fn serve_chain(settings: &mut Settings, chain_id: u64, urls: Vec<String>, timeout_ms: u64) {
    settings.chains.insert(
        chain_id.to_string(),
        ChainSettings {
            rpc_url: OneOrMany::Many(urls),
            timeout_ms,
        },
    );
}

/// A sign-in message of `app` for `account` (EIP-55) on `chain_id`, on a fresh nonce.
pub async fn message_on_chain(app: &TestApp, account: &str, chain_id: u64) -> String {
    let mut spec = MessageSpec::new(&Wallet::random(), &app.nonce().await);
    spec.address = account.to_string();
    spec.chain_id = chain_id.to_string();
    spec.render()
}
