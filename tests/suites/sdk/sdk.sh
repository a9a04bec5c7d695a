#!/usr/bin/env bash
# Generated client SDKs: validates openapi/openapi.json (openapi-spec-validator), generates a
# TypeScript client (openapi-typescript + openapi-fetch) and a Python client
# (openapi-python-client) from it, and signs in with each against the real binary.
set -euo pipefail
cd "$(dirname "$0")/../../.."

python3 -m openapi_spec_validator openapi/openapi.json

out=target/sdk
rm -rf "$out" && mkdir -p "$out"
(cd tests/suites/sdk && npx --no-install openapi-typescript ../../../openapi/openapi.json -o generated/schema.ts --silent \
  && npx --no-install tsc -p tsconfig.json)
# The pairing QR code (image/svg+xml) comes to Python as bytes.
openapi-python-client generate --path openapi/openapi.json --config tests/suites/sdk/python-client.yaml --output-path "$out/python" --overwrite > "$out/python-generate.log" 2>&1
if grep -qiE "unable to|warning|error" "$out/python-generate.log"; then
  cat "$out/python-generate.log"
  echo "openapi-python-client could not use the whole spec" >&2
  exit 1
fi

source tests/suites/helpers/serve.sh

(cd tests/suites/sdk && npx --no-install tsx client.ts "http://127.0.0.1:$port")
PYTHONPATH="$out/python" python3 tests/suites/sdk/python_client.py "http://127.0.0.1:$port"
echo "sdk: 2 passed, 0 failed"
