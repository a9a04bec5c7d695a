#!/usr/bin/env bash
# OpenID Connect relying parties against the real binary, each after a real SIWE sign-in:
# openid-client (npm, certified RP library), Authlib (PyPI) and JupyterHub (PyPI, with
# oauthenticator's GenericOAuthenticator and the npm configurable-http-proxy). The server runs with
# the clients of tests/suites/oidc/config.toml on a free loopback port, and one more added with
# `siwe-server clients add` while it runs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
suite=tests/suites/oidc

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
base="http://127.0.0.1:$port"
hub="http://127.0.0.1:$(free_port)"
mkdir -p target/oidc
sed "s|@HUB@|$hub|g" "$suite/config.toml" > target/oidc/config.toml
export SIWE_CONFIG=target/oidc/config.toml SIWE_SERVER__PUBLIC_URL=$base
source tests/suites/helpers/serve.sh
curl -fs "$base/.well-known/openid-configuration" > /dev/null
# A client added from the command line beside the running server (stored in its database).
authlib_secret=$(SIWE_DATABASE__PATH="$data/siwe.db" target/debug/siwe-server clients add authlib \
  --name Authlib --redirect-uri http://127.0.0.1/callback/authlib | sed -n 's/^client_secret: //p')
[ -n "$authlib_secret" ] || { echo "clients add printed no secret" >&2; exit 1; }

# Each relying party runs even if one before it failed; the suite fails if any did.
failed=()
run() {
  local name=$1
  shift
  echo "== $name"
  (cd "$suite" && "$@") || failed+=("$name")
}
run openid-client env SIWE_BASE="$base" node --test --test-concurrency=1 --test-reporter=spec openid_client.test.mjs
run authlib env AUTHLIB_CLIENT_SECRET="$authlib_secret" python3 authlib_client.py "$base"
run jupyterhub python3 jupyterhub_login.py "$base" "$hub"
if [ ${#failed[@]} -gt 0 ]; then
  echo "oidc: failed: ${failed[*]}" >&2
  exit 1
fi
echo "oidc: openid-client, authlib and jupyterhub passed"
