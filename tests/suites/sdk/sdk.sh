#!/usr/bin/env bash
# Generated client SDKs: validates openapi/openapi.json (openapi-spec-validator), generates a
# TypeScript client (openapi-typescript + openapi-fetch) and a Python client
# (openapi-python-client) from it, and signs in with each against the real binary.
set -euo pipefail
cd "$(dirname "$0")/../../.."

python3 -m openapi_spec_validator openapi/openapi.json
cargo build --quiet

out=target/sdk
rm -rf "$out" && mkdir -p "$out"
(cd tests/suites/sdk && npx --no-install openapi-typescript ../../../openapi/openapi.json -o generated/schema.ts --silent \
  && npx --no-install tsc -p tsconfig.json)
openapi-python-client generate --path openapi/openapi.json --output-path "$out/python" --overwrite > "$out/python-generate.log" 2>&1
if grep -qiE "unable to|warning|error" "$out/python-generate.log"; then
  cat "$out/python-generate.log"
  echo "openapi-python-client could not use the whole spec" >&2
  exit 1
fi

data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SIWE_SERVER__BIND="127.0.0.1:$port" \
SIWE_DATABASE__PATH="$data/siwe.db" \
SIWE_RATE_LIMIT__AUTH_PER_MINUTE=0 \
SIWE_LOG__LEVEL=warn \
  target/debug/siwe-server &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" > /dev/null && break
  sleep 0.1
done

(cd tests/suites/sdk && npx --no-install tsx client.ts "http://127.0.0.1:$port")
PYTHONPATH="$out/python" python3 tests/suites/sdk/python_client.py "http://127.0.0.1:$port"
echo "sdk: 2 passed, 0 failed"
