#!/usr/bin/env bash
# Installs what the tests need beyond Rust: Debian's Chromium (browser tests), nginx
# (forward-auth tests), PostgreSQL (tests/postgres.rs) and systemd (systemd-analyze for the unit file), the Python tools in tests/suites/requirements.txt, and the npm packages of
# tests/suites/browser, tests/suites/sdk, tests/suites/oidc and tests/suites/chain (anvil and the
# contract artifacts the Rust tests deploy on it), from their lock files.
# tests/run.sh runs it first.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v chromium > /dev/null || missing+=(chromium)
[ -x /usr/sbin/nginx ] || command -v nginx > /dev/null || missing+=(nginx)
# systemd-analyze verifies packaging/siwe-server.service (tests/binary.rs).
command -v systemd-analyze > /dev/null || missing+=(systemd)
# A throwaway PostgreSQL server for tests/postgres.rs (tests/suites/postgres/with-postgres.sh).
ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" > /dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/suites/requirements.txt
(cd tests/suites/browser && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/suites/sdk && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/suites/oidc && npm ci --no-audit --no-fund --loglevel=error)
(cd tests/suites/chain && npm ci --no-audit --no-fund --loglevel=error)
