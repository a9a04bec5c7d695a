#!/usr/bin/env bash
# Installs what the tests need beyond Rust: Debian's Chromium (browser tests), the Python tools
# in tests/requirements.txt, and the npm packages of tests/e2e (from its lock file).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium > /dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/requirements.txt
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
