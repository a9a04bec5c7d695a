#!/usr/bin/env bash
# OpenID Connect relying parties against the real binary, each after a real SIWE sign-in:
# openid-client (npm, certified RP library), Authlib (PyPI) and JupyterHub (PyPI, with
# oauthenticator's GenericOAuthenticator and the npm configurable-http-proxy). The server runs with
# the clients of tests/suites/oidc/config.toml on a free loopback port.
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

(cd "$suite" && SIWE_BASE=$base node --test --test-concurrency=1 --test-reporter=spec openid_client.test.mjs)
(cd "$suite" && python3 authlib_client.py "$base")
(cd "$suite" && python3 jupyterhub_login.py "$base" "$hub")
echo "oidc: openid-client, authlib and jupyterhub passed"
