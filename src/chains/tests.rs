//! The chains' rules without a node: how errors are classified, how calls are encoded and
//! answers read, and the endpoint order, chain id check, gas cap, timeout and bound against a
//! small JSON-RPC stub on loopback.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address as EthAddress, Bytes, FixedBytes},
    sol_types::{SolCall, SolValue},
    transports::{HttpError, TransportError, TransportErrorKind},
};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use url::Url;

use super::{
    rpc::{classify, Failure},
    signature::{isValidSignatureCall, read_answer, signature_call, Asked},
    *,
};
use crate::domain::siwe::EIP6492_SUFFIX;

fn rpc_error(code: i64, message: &'static str) -> TransportError {
    let payload = json!({ "code": code, "message": message });
    TransportError::ErrorResp(serde_json::from_value(payload).unwrap())
}

#[test]
fn execution_errors_are_the_contract_s_answer() {
    for (code, message) in [
        (3, "execution reverted: nope"),
        (-32000, "execution reverted"),
        (-32000, "out of gas"),
        (-32015, "VM execution error."),
        (-32000, "invalid opcode: INVALID"),
        (-32000, "Reverted"),
        (-32603, "EVM error OutOfGas"),
        (-32603, "EVM error InvalidFEOpcode"),
    ] {
        assert_eq!(
            classify(&rpc_error(code, message)),
            Ok(CallOutcome::Reverted),
            "{code} {message}"
        );
    }
}

#[test]
fn other_failures_move_on_to_the_next_endpoint() {
    assert_eq!(
        classify(&rpc_error(-32000, "header not found")),
        Err(Failure::Rpc(-32000))
    );
    assert_eq!(
        classify(&rpc_error(-32005, "execution limit exceeded")),
        Err(Failure::Rpc(-32005))
    );
    assert_eq!(
        classify(&rpc_error(-32603, "internal error")),
        Err(Failure::Rpc(-32603))
    );
    assert_eq!(
        classify(&rpc_error(-32601, "method not found")),
        Err(Failure::Rpc(-32601))
    );
    let http = TransportErrorKind::HttpError(HttpError {
        status: 429,
        body: String::new(),
    });
    assert_eq!(
        classify(&TransportError::Transport(http)),
        Err(Failure::HttpStatus(429))
    );
    assert_eq!(classify(&TransportError::NullResp), Err(Failure::Transport));
    assert_eq!(
        classify(&TransportErrorKind::backend_gone()),
        Err(Failure::Transport)
    );
}

const WALLET: [u8; 20] = [0x11; 20];
const HASH: [u8; 32] = [0x22; 32];

#[test]
fn a_plain_signature_asks_eip1271_on_the_wallet() {
    let signature = vec![0x33; 200];
    let (asked, call) = signature_call(WALLET, HASH, &signature);
    assert_eq!(asked, Asked::Eip1271);
    assert_eq!(call.to, Some(EthAddress::from(WALLET).into()));
    let data = call.input.input().unwrap();
    assert_eq!(data[..4], EIP1271_MAGIC, "the selector is the magic value");
    let decoded = isValidSignatureCall::abi_decode(data).unwrap();
    assert_eq!(decoded.hash, FixedBytes::from(HASH));
    assert_eq!(decoded.signature.as_ref(), &signature[..]);
}

#[test]
fn an_eip6492_signature_runs_the_deployless_validator() {
    let signature = [vec![0x33; 100], EIP6492_SUFFIX.to_vec()].concat();
    let (asked, call) = signature_call(WALLET, HASH, &signature);
    assert_eq!(asked, Asked::Eip6492);
    assert_eq!(call.to, None, "a deployless call has no `to`");
    let data = call.input.input().unwrap();
    // Creation code (starts with the usual free-memory-pointer prologue), then the
    // constructor's arguments: address, hash, offset of the bytes, their length, the bytes.
    assert_eq!(data[..5], [0x60, 0x80, 0x60, 0x40, 0x52]);
    let args = &data[data.len() - (4 * 32 + 160)..];
    assert_eq!(args[12..32], WALLET);
    assert_eq!(args[32..64], HASH);
    assert_eq!(args[95], 0x60);
    assert_eq!(args[126..128], [0, 132]);
    assert_eq!(args[128..260], signature[..]);
    let decoded = <(EthAddress, FixedBytes<32>, Bytes)>::abi_decode_params(args).unwrap();
    assert_eq!(decoded.2.as_ref(), &signature[..]);
}

#[test]
fn eip1271_answers_are_read_strictly() {
    let magic = |padding: u8| {
        let mut word = [padding; 32];
        word[..4].copy_from_slice(&EIP1271_MAGIC);
        word.to_vec()
    };
    assert_eq!(read_answer(Asked::Eip1271, &magic(0)), Verdict::Valid);
    for refused in [
        magic(1),                      // dirty padding
        [magic(0), magic(0)].concat(), // more than one word
        EIP1271_MAGIC.to_vec(),        // not a word
        vec![],                        // no code at the address
        vec![0; 32],
        [0xff, 0xff, 0xff, 0xff].repeat(8),
    ] {
        assert_eq!(read_answer(Asked::Eip1271, &refused), Verdict::Invalid);
    }
}

#[test]
fn the_validator_accepts_with_a_last_byte_of_one() {
    let mut word = [0u8; 32];
    word[31] = 1;
    assert_eq!(read_answer(Asked::Eip6492, &word), Verdict::Valid);
    assert_eq!(read_answer(Asked::Eip6492, &[1]), Verdict::Valid);
    for refused in [vec![], vec![0], vec![0; 32], vec![2]] {
        assert_eq!(read_answer(Asked::Eip6492, &refused), Verdict::Invalid);
    }
}

/// How the stub answers one JSON-RPC request (method, params).
type Answer = Arc<dyn Fn(&str, &Value) -> Reply + Send + Sync>;

enum Reply {
    Result(Value),
    Error(i64, &'static str),
    Status(u16),
    Hang,
}

/// A JSON-RPC endpoint on loopback answering as `answer` says, keeping the requests it got.
struct Stub {
    url: Url,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Stub {
    async fn start(answer: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!(
            "http://{}/key/secret",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, answer): (_, Answer) = (Arc::clone(&requests), Arc::new(answer));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (seen, answer) = (Arc::clone(&seen), Arc::clone(&answer));
                tokio::spawn(async move {
                    while let Some(request) = read_request(&mut socket).await {
                        seen.lock().unwrap().push(request.clone());
                        let method = request["method"].as_str().unwrap_or_default();
                        let (status, body) = match answer(method, &request["params"]) {
                            Reply::Result(result) => (
                                200,
                                json!({"jsonrpc": "2.0", "id": request["id"], "result": result}),
                            ),
                            Reply::Error(code, message) => (
                                200,
                                json!({"jsonrpc": "2.0", "id": request["id"],
                                       "error": {"code": code, "message": message}}),
                            ),
                            Reply::Status(status) => (status, json!("no")),
                            Reply::Hang => {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                                return;
                            }
                        };
                        let body = body.to_string();
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\n\r\n",
                            body.len()
                        );
                        if socket.write_all((head + &body).as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, requests }
    }

    fn methods(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .map(|r| r["method"].as_str().unwrap().to_string())
            .collect()
    }
}

/// One HTTP/1.1 request's JSON body, or None once the connection ends.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Value> {
    let mut buffer = Vec::new();
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
                buffer.extend_from_slice(&chunk[..n]);
            }
            return serde_json::from_slice(&buffer[end + 4..end + 4 + length]).ok();
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    }
}

const CHAIN: u64 = 31337;

/// A node of chain `CHAIN` whose `eth_call` answers `call`.
fn node(call: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> impl Fn(&str, &Value) -> Reply {
    move |method, params| match method {
        "eth_chainId" => Reply::Result(json!(format!("0x{CHAIN:x}"))),
        "eth_call" => call(params),
        _ => Reply::Error(-32601, "method not found"),
    }
}

fn chains(urls: &[&Url], timeout_ms: u64, max_checks: usize) -> Chains {
    let chain = ChainRpc {
        chain_id: CHAIN,
        rpc_urls: urls.iter().map(|url| (*url).clone()).collect(),
        timeout: Duration::from_millis(timeout_ms),
    };
    Chains::new(&[chain], max_checks).unwrap()
}

fn magic_word() -> Value {
    let mut word = [0u8; 32];
    word[..4].copy_from_slice(&EIP1271_MAGIC);
    json!(format!("0x{}", hex::encode(word)))
}

fn wallet() -> Address {
    Address::from_bytes(WALLET)
}

#[tokio::test]
async fn the_chain_id_is_checked_once_and_the_call_gas_capped() {
    let stub = Stub::start(node(|_| Reply::Result(magic_word()))).await;
    let chains = chains(&[&stub.url], 2000, 4);
    for _ in 0..2 {
        let verdict = chains
            .check_signature(CHAIN, &wallet(), HASH, &[0x33; 200])
            .await;
        assert_eq!(verdict, Ok(Verdict::Valid));
    }
    assert_eq!(stub.methods(), ["eth_chainId", "eth_call", "eth_call"]);
    let requests = stub.requests.lock().unwrap();
    let call = &requests[1]["params"];
    assert_eq!(call[0]["gas"], json!(format!("0x{CALL_GAS_CAP:x}")));
    assert_eq!(call[0]["to"], json!(format!("0x{}", hex::encode(WALLET))));
    assert_eq!(call[1], json!("latest"));
}

#[tokio::test]
async fn a_revert_is_a_refusal_and_no_other_endpoint_is_asked() {
    let reverting = Stub::start(node(|_| Reply::Error(3, "execution reverted"))).await;
    let other = Stub::start(node(|_| Reply::Result(magic_word()))).await;
    let chains = chains(&[&reverting.url, &other.url], 2000, 4);
    let verdict = chains
        .check_signature(CHAIN, &wallet(), HASH, &[0x33; 65])
        .await;
    assert_eq!(verdict, Ok(Verdict::Invalid));
    assert!(other.methods().is_empty());
}

#[tokio::test]
async fn failing_endpoints_are_skipped_in_order() {
    let wrong_chain = Stub::start(|_: &str, _: &Value| Reply::Result(json!("0x1"))).await;
    let http_error = Stub::start(|_: &str, _: &Value| Reply::Status(503)).await;
    let rate_limited = Stub::start(node(|_| Reply::Error(-32005, "rate limited"))).await;
    let good = Stub::start(node(|_| Reply::Result(magic_word()))).await;
    let urls = [
        &wrong_chain.url,
        &http_error.url,
        &rate_limited.url,
        &good.url,
    ];
    let chains = chains(&urls, 2000, 4);
    let verdict = chains
        .check_signature(CHAIN, &wallet(), HASH, &[0x33; 65])
        .await;
    assert_eq!(verdict, Ok(Verdict::Valid));
    assert_eq!(wrong_chain.methods(), ["eth_chainId"], "never called");
    assert_eq!(rate_limited.methods(), ["eth_chainId", "eth_call"]);
    // None answering is Unavailable.
    let chains = self::chains(&urls[..3], 2000, 4);
    let verdict = chains
        .check_signature(CHAIN, &wallet(), HASH, &[0x33; 65])
        .await;
    assert_eq!(verdict, Err(ChainError::Unavailable(CHAIN)));
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_the_next_answers() {
    let hanging = Stub::start(|_: &str, _: &Value| Reply::Hang).await;
    let good = Stub::start(node(|_| Reply::Result(magic_word()))).await;
    let chains = chains(&[&hanging.url, &good.url], 300, 4);
    let started = Instant::now();
    let verdict = chains
        .check_signature(CHAIN, &wallet(), HASH, &[0x33; 65])
        .await;
    assert_eq!(verdict, Ok(Verdict::Valid));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2));
}

#[tokio::test]
async fn a_check_that_gets_no_turn_within_the_timeout_is_unavailable() {
    // One turn; the first check holds it for two timeouts (two endpoints that never answer).
    let hanging = [
        Stub::start(node(|_| Reply::Hang)).await,
        Stub::start(node(|_| Reply::Hang)).await,
    ];
    let chains = Arc::new(chains(&[&hanging[0].url, &hanging[1].url], 400, 1));
    let first = {
        let chains = Arc::clone(&chains);
        tokio::spawn(async move {
            chains
                .check_signature(CHAIN, &wallet(), HASH, &[1; 65])
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let second = chains
        .check_signature(CHAIN, &wallet(), HASH, &[1; 65])
        .await;
    assert_eq!(second, Err(ChainError::Unavailable(CHAIN)));
    assert!(started.elapsed() < Duration::from_millis(700));
    assert_eq!(first.await.unwrap(), Err(ChainError::Unavailable(CHAIN)));
    // Only the first got to the endpoints.
    for stub in &hanging {
        assert_eq!(stub.methods(), ["eth_chainId", "eth_call"]);
    }
}

#[tokio::test]
async fn unknown_chains_have_no_rpc_and_chains_drop_inside_a_runtime() {
    let chains = chains(&[&Url::parse("http://127.0.0.1:9").unwrap()], 200, 1);
    assert!(chains.has_rpc(CHAIN) && !chains.has_rpc(1));
    let verdict = chains.check_signature(1, &wallet(), HASH, &[1; 65]).await;
    assert_eq!(verdict, Err(ChainError::NoRpc(1)));
    drop(chains);
    let none = Chains::none();
    let call = alloy::rpc::types::TransactionRequest::default();
    assert_eq!(none.call(CHAIN, call).await, Err(ChainError::NoRpc(CHAIN)));
}
