#!/usr/bin/env bash
# The soak run of BENCHMARKS.md: mixed traffic at a fixed, modest rate for a long time with the
# clean-up running, to show that memory, open files, the WAL and latency stay flat. Builds the
# release binaries, starts the server on a loopback port with short nonce and session lifetimes
# and a clean-up every 10 s (so the database reaches a steady state within minutes), runs
# `loadgen --scenario soak`, keeps sampling while the clean-up empties what expired, stops the
# server (SIGTERM: WAL checkpointed) and prints a Markdown table over time. Not in CI.
#
#   bash benches/soak.sh                       # 30 minutes at 300 requests/s
#   DURATION=5m RATE=200 bash benches/soak.sh
#
# Samples (one JSON object a line) go to target/bench/soak-<time>.jsonl; the server's log
# beside them. Needs python3 (the start-up wait and the final database figures).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30m}
RATE=${RATE:-300}
SAMPLE_EVERY=${SAMPLE_EVERY:-15s}
ROW_EVERY=${ROW_EVERY:-5m}
PORT=${PORT:-18300}
# The server's lifetimes; the generator uses a session for at most SESSION_REUSE after its
# sign-in, and samples SETTLE after the load: longer than a session lives plus one clean-up.
NONCE_TTL=60
SESSION_TTL=120
CLEANUP_EVERY=10
SESSION_REUSE=100s
SETTLE=${SETTLE:-150s}
OUT=target/bench
mkdir -p "$OUT"
STAMP=$(date +%Y%m%d-%H%M%S)
SAMPLES="$OUT/soak-$STAMP.jsonl"
LOG="$OUT/soak-$STAMP-server.log"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet --bin siwe-server --example loadgen
BIN=${BIN:-target/release/siwe-server}
URL="http://127.0.0.1:$PORT"
DB="$WORK/siwe.db"

# Rate limits off: every request comes from 127.0.0.1.
SIWE_RATE_LIMIT__AUTH_PER_MINUTE=0 SIWE_RATE_LIMIT__READ_PER_MINUTE=0 \
    SIWE_SIWE__NONCE_TTL_SECS=$NONCE_TTL SIWE_SESSION__TTL_SECS=$SESSION_TTL \
    SIWE_DATABASE__CLEANUP_INTERVAL_SECS=$CLEANUP_EVERY \
    SIWE_LOG__LEVEL=warn SIWE_LOG__FORMAT=json SIWE_SERVER__BIND="127.0.0.1:$PORT" SIWE_SERVER__PUBLIC_URL="$URL" \
    SIWE_DATABASE__PATH="$DB" "$BIN" >"$LOG" 2>&1 &
SERVER_PID=$!
python3 benches/wait_healthz.py "$URL"

echo "== soak: $RATE requests/s for $DURATION, then $SETTLE without load ($(git rev-parse --short HEAD))"
target/release/examples/loadgen --url "$URL" --scenario soak --rate "$RATE" \
    --duration "$DURATION" --connections 256 --sample-every "$SAMPLE_EVERY" \
    --row-every "$ROW_EVERY" --settle "$SETTLE" --session-reuse "$SESSION_REUSE" \
    --server-pid "$SERVER_PID" --db "$DB" --samples "$SAMPLES"

kill -TERM "$SERVER_PID"
STATUS=0
wait "$SERVER_PID" || STATUS=$?
SERVER_PID=""
echo
echo "server stopped with status $STATUS; after SIGTERM (WAL checkpointed):"
python3 - "$DB" <<'EOF'
import os, sqlite3, sys
db = sys.argv[1]
size = os.path.getsize(db)
wal = os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0
conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
one = lambda sql: conn.execute(sql).fetchone()[0]
page, pages, free = one("PRAGMA page_size"), one("PRAGMA page_count"), one("PRAGMA freelist_count")
print(f"- database {size / 1e6:.1f} MB ({pages} pages of {page} bytes, {free} free), WAL {wal / 1e6:.1f} MB")
for table, in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
    print(f"- {table}: {one(f'SELECT count(*) FROM {table}')} rows")
print(f"- integrity_check: {one('PRAGMA integrity_check')}")
EOF
echo "- server log ($LOG): $(grep -c '"level":"WARN"' "$LOG" || true) warnings, $(grep -c '"level":"ERROR"' "$LOG" || true) errors"
echo "- samples: $SAMPLES"
