#!/usr/bin/env bash
# The whole test suite in one command (what .ci/run calls): installs what the tests need beyond
# Rust (tests/suites/setup.sh), then runs every suite, going on past a failure, and ends with one
# line per suite and `N passed, M failed` (non-zero exit if any failed).
#
#   bash tests/run.sh                  setup, then every suite
#   bash tests/run.sh browser sdk      setup, then only the named suites
#   SKIP_SETUP=1 bash tests/run.sh     skip the installation (already done in this checkout)
#
# Suites, in the order they run (each also runs alone with the command shown):
#   rust      cargo test, then again on PostgreSQL         unit, integration, vectors, proptest, spec
#   audit     bash tests/suites/audit/audit.sh             RustSec advisories for Cargo.lock
#   api-fuzz  bash tests/suites/api-fuzz/schemathesis.sh   requests generated from the OpenAPI spec
#   sdk       bash tests/suites/sdk/sdk.sh                 generated TypeScript and Python clients
#   oidc      bash tests/suites/oidc/oidc.sh               OpenID Connect relying parties and JupyterHub
#   browser   (cd tests/suites/browser && npm test)        the built-in pages in headless Chromium
# Each suite's output is shown as it runs and kept in target/test-logs/<suite>.log. A suite that
# runs longer than SUITE_TIMEOUT_SECS (2400 unless set) is stopped, with everything it started,
# and fails: one hung child must not hold CI until its own limit.
set -uo pipefail
cd "$(dirname "$0")/.."

all=(rust audit api-fuzz sdk oidc browser)
command_of() {
  case $1 in
    # Twice: on SQLite (everything), then every integration test again with its servers on
    # PostgreSQL (tests/common/postgres.rs).
    rust) echo "bash tests/suites/postgres/with-postgres.sh sh -c 'cargo test && TEST_STORAGE=postgres cargo test --test \"*\"'" ;;
    audit) echo "bash tests/suites/audit/audit.sh" ;;
    api-fuzz) echo "bash tests/suites/api-fuzz/schemathesis.sh" ;;
    sdk) echo "bash tests/suites/sdk/sdk.sh" ;;
    oidc) echo "bash tests/suites/oidc/oidc.sh" ;;
    # The pages test drives target/debug/siwe-server, so it builds it first when run alone.
    browser) echo "cargo build --quiet && (cd tests/suites/browser && npm test)" ;;
    *) return 1 ;;
  esac
}

selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")
for suite in "${selected[@]}"; do
  if ! command_of "$suite" > /dev/null; then
    echo "unknown suite '$suite'; the suites are: ${all[*]}" >&2
    exit 2
  fi
done

logs=target/test-logs
mkdir -p "$logs"
summary=()
passed=0
failed=0

# Runs one step, showing and keeping its output, and records one summary line for it.
step() {
  local name=$1 cmd=$2 start status
  echo
  echo "==> $name: $cmd"
  start=$(date +%s)
  timeout --kill-after=30 "${SUITE_TIMEOUT_SECS:-2400}" bash -c "set -euo pipefail; $cmd" 2>&1 | tee "$logs/$name.log"
  status=${PIPESTATUS[0]}
  local took=$(($(date +%s) - start))
  if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "$name: stopped after ${took}s (SUITE_TIMEOUT_SECS=${SUITE_TIMEOUT_SECS:-2400})" | tee -a "$logs/$name.log"
  fi
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    summary+=("$(printf 'PASS  %-9s %4ss  %s' "$name" "$took" "$cmd")")
  else
    failed=$((failed + 1))
    summary+=("$(printf 'FAIL  %-9s %4ss  %s  (exit %s, log: %s)' "$name" "$took" "$cmd" "$status" "$logs/$name.log")")
  fi
}

if [ "${SKIP_SETUP:-0}" != 1 ]; then
  step setup "bash tests/suites/setup.sh"
fi
for suite in "${selected[@]}"; do
  step "$suite" "$(command_of "$suite")"
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
