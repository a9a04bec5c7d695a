# Sourced (from the repository root) by the suites that need a running server: builds the debug
# binary and starts it on a free loopback port ($port, unless the suite chose it first) with a
# fresh database and no rate limits, and waits until it answers; the server stops and its database
# goes when the script exits.
cargo build --quiet

data=$(mktemp -d)
port=${port:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
SIWE_SERVER__BIND="127.0.0.1:$port" \
SIWE_DATABASE__PATH="$data/siwe.db" \
SIWE_RATE_LIMIT__AUTH_PER_MINUTE=0 \
SIWE_RATE_LIMIT__READ_PER_MINUTE=0 \
SIWE_LOG__LEVEL=warn \
  target/debug/siwe-server &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT

for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.1
done
