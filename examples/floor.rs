//! The HTTP floor for benchmarks: an empty poem endpoint, to compare siwe-server's endpoints
//! with in the same run (see BENCHMARKS.md).
//!
//! cargo run --release --example floor -- 127.0.0.1:18200

use poem::{handler, listener::TcpListener, Route, Server};

#[handler]
fn empty() -> &'static str {
    ""
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18200".into());
    Server::new(TcpListener::bind(bind))
        .run(Route::new().at("/", empty))
        .await
}
