#!/usr/bin/env bash
# The load benchmarks of BENCHMARKS.md, end to end: builds the release binaries, starts the
# server and the empty-endpoint floor on loopback ports, runs every loadgen scenario ROUNDS
# times (interleaved, so each round compares like with like), and prints the medians as
# Markdown tables. Raw results (one JSON object per run) go to target/bench/.
#
#   bash benches/load.sh                  # scenarios, concurrency, memory, start-up
#   ROUNDS=5 DURATION=10s bash benches/load.sh
#   GROWTH=1 bash benches/load.sh         # also: 1,000,000 rows per table (seeds once, ~1 GB)
#   SKIP_SCENARIOS=1 GROWTH=1 bash ...    # only the data-growth part
#   OIDC=0 bash benches/load.sh           # without the OpenID Connect flows (a build without them)
#
# Needs python3 for the summary. Rate limits are off: they would be the bottleneck by design.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
PRESIGN=${PRESIGN:-40000}
GROWTH=${GROWTH:-0}
OIDC=${OIDC:-1}
PORT=${PORT:-18100}
FLOOR_PORT=$((PORT + 100))
OUT=target/bench
mkdir -p "$OUT"
RESULTS="$OUT/results-$(date +%Y%m%d-%H%M%S).jsonl"
WORK=$(mktemp -d)
SERVER_PID=""
FLOOR_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "$FLOOR_PID" ] && kill "$FLOOR_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet --bin siwe-server --example loadgen --example floor --example seed
# BIN=path/to/another/siwe-server measures another build (say, an older commit) the same way.
BIN=${BIN:-target/release/siwe-server}
LOADGEN=target/release/examples/loadgen
URL="http://127.0.0.1:$PORT"

# start_server DB [ENV=VALUE...]: a fresh server on DB; sets SERVER_PID.
start_server() {
    local db=$1
    shift
    env "$@" \
        SIWE_RATE_LIMIT__AUTH_PER_MINUTE=0 SIWE_RATE_LIMIT__READ_PER_MINUTE=0 \
        SIWE_LOG__LEVEL=warn SIWE_SERVER__BIND="127.0.0.1:$PORT" SIWE_SERVER__PUBLIC_URL="$URL" \
        SIWE_DATABASE__PATH="$db" "$BIN" >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    python3 benches/wait_healthz.py "$URL"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# startup_ms DB: milliseconds from starting the process to its first answered request.
startup_ms() {
    SIWE_LOG__LEVEL=warn SIWE_SERVER__BIND="127.0.0.1:$PORT" SIWE_SERVER__PUBLIC_URL="$URL" \
        SIWE_DATABASE__PATH="$1" python3 - "$BIN" "$PORT" <<'EOF'
import socket, subprocess, sys, time
started = time.perf_counter()
server = subprocess.Popen([sys.argv[1]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(12).startswith(b"HTTP/1.1 200"):
                break
    except OSError:
        time.sleep(0.0005)
print(round((time.perf_counter() - started) * 1000, 1))
server.terminate()
server.wait()
EOF
}

rss_mb() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# run LABEL URL SCENARIO [loadgen args...]: one loadgen run, recorded with its label.
run() {
    local label=$1 url=$2 scenario=$3
    shift 3
    "$LOADGEN" --url "$url" --scenario "$scenario" --connections "$CONNECTIONS" \
        --duration "$DURATION" --json "$@" 2>/dev/null |
        python3 -c 'import json, sys; r = json.load(sys.stdin); r["label"] = sys.argv[1]; print(json.dumps(r))' "$label" \
            >>"$RESULTS"
    tail -n 1 "$RESULTS" | python3 -c 'import json, sys; r = json.load(sys.stdin); print("  %-28s %9.0f req/s  p99 %.2f ms" % (r["label"], r["requests_per_sec"], r["latency_ms"]["p99"]))'
}

note() { echo "{\"label\": \"$1\", \"value\": $2}" >>"$RESULTS"; echo "  $1: $2"; }

"target/release/examples/floor" "127.0.0.1:$FLOOR_PORT" &
FLOOR_PID=$!
sleep 0.3

echo "== scenarios, $ROUNDS rounds of $DURATION at $CONNECTIONS connections"
for round in $( [ "${SKIP_SCENARIOS:-0}" = 1 ] || seq "$ROUNDS"); do
    echo "round $round"
    rm -f "$WORK"/siwe.db*
    start_server "$WORK/siwe.db"
    [ "$round" = 1 ] && note "rss idle MB" "$(rss_mb "$SERVER_PID")"
    run floor "http://127.0.0.1:$FLOOR_PORT" floor --floor-path /
    run session "$URL" session
    run forward "$URL" forward
    run nonce "$URL" nonce
    run login "$URL" login --presign "$PRESIGN"
    run mixed "$URL" mixed
    [ "$round" = 1 ] && note "rss after login and mixed MB" "$(rss_mb "$SERVER_PID")"
    stop_server
done

echo "== session checks while logins run (32 + 32 connections)"
for round in $( [ "${SKIP_SCENARIOS:-0}" = 1 ] || seq "$ROUNDS"); do
    rm -f "$WORK"/siwe.db*
    start_server "$WORK/siwe.db"
    CONNECTIONS=32 run "session alone (32)" "$URL" session
    CONNECTIONS=32 run "login alone (32)" "$URL" login --presign "$PRESIGN"
    # The login generator signs its messages first; start the session load when it runs.
    "$LOADGEN" --url "$URL" --scenario login --connections 32 --duration "$DURATION" \
        --presign "$PRESIGN" --json 2>"$WORK/login.err" >"$WORK/login.json" &
    LOGIN_PID=$!
    until grep -q running "$WORK/login.err" 2>/dev/null; do sleep 0.05; done
    CONNECTIONS=32 run "session during login (32)" "$URL" session
    wait "$LOGIN_PID"
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r["label"] = "login during session (32)"; print(json.dumps(r))' \
        "$WORK/login.json" >>"$RESULTS"
    stop_server
done

echo "== OpenID Connect: authorize with a session -> code -> token (one flow = two requests)"
# A trusted confidential client (no consent page), as loadgen's oidc scenario expects.
cat >"$WORK/oidc.toml" <<'EOF'
[[oidc.clients]]
id = "loadgen"
name = "Load generator"
secret = "loadgen-bench-client-secret"
redirect_uris = ["http://127.0.0.1:9/callback"]
trusted = true
EOF
for round in $( [ "$OIDC" = 1 ] && [ "${SKIP_SCENARIOS:-0}" != 1 ] && seq "$ROUNDS"); do
    rm -f "$WORK"/siwe.db*
    start_server "$WORK/siwe.db" SIWE_CONFIG="$WORK/oidc.toml"
    run oidc "$URL" oidc
    CONNECTIONS=1 run "oidc 1 conn" "$URL" oidc
    stop_server
done

echo "== start-up, memory, size"
rm -f "$WORK"/siwe.db*
start_server "$WORK/siwe.db"
stop_server
for round in $(seq "$ROUNDS"); do
    note "start-up ms (existing database)" "$(startup_ms "$WORK/siwe.db")"
done
note "release binary MB" "$(du -m "$BIN" | cut -f1)"

if [ "$GROWTH" = 1 ]; then
    SEEDED="$OUT/seed-1m.db"
    if [ ! -f "$SEEDED" ]; then
        target/release/examples/seed --db "$SEEDED" --rows 1000000
    fi
    echo "== data growth: empty vs 1,000,000 users, wallets, sessions and expired nonces"
    for round in $(seq "$ROUNDS"); do
        for data in empty 1m; do
            rm -f "$WORK"/siwe.db*
            [ "$data" = 1m ] && cp "$SEEDED" "$WORK/siwe.db"
            # No cleanup during these runs: the expired nonces stay in the file.
            start_server "$WORK/siwe.db" SIWE_DATABASE__CLEANUP_INTERVAL_SECS=3600
            run "session, $data" "$URL" session
            run "login, $data" "$URL" login --presign "$PRESIGN"
            CONNECTIONS=1 run "session 1 conn, $data" "$URL" session
            CONNECTIONS=1 run "login 1 conn, $data" "$URL" login --presign 5000
            stop_server
        done
        # Cleanup of a million expired nonces, one small batch per write, during session checks.
        cp "$SEEDED" "$WORK/siwe.db"
        start_server "$WORK/siwe.db" SIWE_DATABASE__CLEANUP_INTERVAL_SECS=1
        run "session during cleanup, 1m" "$URL" session
        stop_server
    done
    note "start-up ms (1m rows)" "$(startup_ms "$WORK/siwe.db")"
fi

echo "== medians ($RESULTS)"
python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
from collections import defaultdict
runs, notes = defaultdict(list), defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    (notes if "value" in r else runs)[r["label"]].append(r)
med = lambda xs: statistics.median(xs)
floor = med([r["requests_per_sec"] for r in runs.get("floor", [])] or [0])
print("| run | req/s | of floor | p50 ms | p90 ms | p99 ms | max ms | non-2xx/errors | generator CPU |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for label, rs in runs.items():
    rps = med([r["requests_per_sec"] for r in rs])
    lat = lambda k: med([r["latency_ms"][k] for r in rs])
    bad = sum(r["errors"] + sum(n for s, n in r["statuses"].items() if not s.startswith("2")) for r in rs)
    cpu = med([r["generator_cpu_share_of_one_core"] for r in rs])
    share = f"{100 * rps / floor:.0f}%" if floor and label != "floor" else ""
    print(f"| {label} | {rps:,.0f} | {share} | {lat('p50'):.2f} | {lat('p90'):.2f} | {lat('p99'):.2f} | {lat('max'):.1f} | {bad} | {100 * cpu:.0f}% |")
print()
for label, ns in notes.items():
    print(f"- {label}: {med([n['value'] for n in ns])} (median of {len(ns)})")
EOF
