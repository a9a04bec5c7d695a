#!/usr/bin/env bash
# Dependency advisories: checks Cargo.lock against the RustSec advisory database with cargo-audit
# (installed by tests/suites/setup.sh from tests/suites/requirements.txt). Any vulnerability, and
# any warning (unmaintained, unsound or yanked crate), fails the check unless .cargo/audit.toml
# ignores that advisory with its reason.
#
# The database is cloned fresh (so CI with network sees new advisories the day they are published).
# Where GitHub cannot be reached, the check runs against advisory-db/ next to this script, a
# committed snapshot of the advisories of the crates in Cargo.lock, and says so, with its date.
#
#   bash tests/suites/audit/audit.sh                     the check
#   bash tests/suites/audit/audit.sh --refresh-snapshot  rewrite advisory-db/ (next to this script)
#                                                        from the live database (needs network;
#                                                        run it after changing dependencies)
# ADVISORY_DB_URL overrides where the live database is cloned from. tests/run.sh runs this after
# `cargo test`: the yanked-crate check reads cargo's local copy of the crates.io index.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export LC_ALL=C # crates.txt is sorted bytewise; comm needs the same order whatever the locale

url=${ADVISORY_DB_URL:-https://github.com/rustsec/advisory-db.git}
snapshot=tests/suites/audit/advisory-db

if ! command -v cargo-audit > /dev/null; then
  echo "cargo-audit is not installed: run bash tests/suites/setup.sh" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A shallow clone is a few MB and takes seconds; without network it fails at once.
fetch_live() {
  GIT_TERMINAL_PROMPT=0 timeout 120 git clone --quiet --depth 1 "$url" "$work/live" 2> "$work/clone.log"
}

if [ "${1:-}" = --refresh-snapshot ]; then
  if ! fetch_live; then
    cat "$work/clone.log" >&2
    echo "could not clone $url: the snapshot was left as it is" >&2
    exit 1
  fi
  commit=$(git -C "$work/live" log -1 --format='%H (%cs)')
  rm -rf "$snapshot/crates"
  mkdir -p "$snapshot/crates"
  sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u > "$snapshot/crates.txt"
  count=0
  for name in $(cat "$snapshot/crates.txt"); do
    for file in "$work/live/crates/$name"/RUSTSEC-*.md; do
      [ -e "$file" ] || continue
      case $file in */RUSTSEC-0000-*) continue ;; esac # placeholder of an unmerged advisory
      mkdir -p "$snapshot/crates/$name"
      cp "$file" "$snapshot/crates/$name/"
      count=$((count + 1))
    done
  done
  cp "$work/live/LICENSE.txt" "$snapshot/LICENSE.txt"
  cat > "$snapshot/SOURCE.md" << EOF
# Snapshot of the RustSec advisory database

\`tests/suites/audit/audit.sh\` checks Cargo.lock against the live RustSec advisory database when it can clone it,
and against this snapshot when it cannot (this project's build machines reach the package
registries but not GitHub).

Taken: $(date -u +%F), by \`bash tests/suites/audit/audit.sh --refresh-snapshot\`.

Source: $url, commit $commit.

Contents: the advisories (\`crates/<crate>/RUSTSEC-*.md\`, unchanged) of every crate named in
Cargo.lock on that day ($count advisories), the list of those crates (crates.txt) and the
database's LICENSE.txt. Nothing else: no other crates' advisories, no advisories for the Rust
toolchain (\`rust/\`). After a dependency changes, refresh the snapshot on a machine with network
and commit it (the script names the crates of Cargo.lock the snapshot was not taken for).

Licence: the RustSec advisory database is dedicated to the public domain (CC0-1.0, see
LICENSE.txt). Advisories adapted from the GitHub Advisory Database say so in their own
\`license\` field (CC-BY-4.0); their attribution is the \`url\` and \`aliases\` in the same file.
EOF
  echo "$snapshot/: $count advisories from $url at $commit"
  exit 0
fi

if fetch_live; then
  db=$work/live
  echo "advisory database: $url at $(git -C "$db" log -1 --format='%h (%cs)')"
else
  # A copy, because cargo-audit writes a lock file next to the database it reads.
  cp -r "$snapshot" "$work/snapshot"
  db=$work/snapshot
  echo "advisory database: $url could not be cloned ($(tail -n 1 "$work/clone.log"))"
  newest=$(grep -rh '^date = ' "$snapshot/crates" | sort | tail -n 1 | tr -dc '0-9-')
  echo "advisory database: using the committed snapshot in $snapshot/, taken" \
    "$(sed -n 's/^Taken: \([0-9-]*\).*/\1/p' "$snapshot/SOURCE.md"), newest advisory $newest"
  echo "  (advisories published after the snapshot are not checked; refresh it with --refresh-snapshot)"
  uncovered=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u | comm -23 - "$snapshot/crates.txt" | tr '\n' ' ')
  if [ -n "$uncovered" ]; then
    echo "WARNING: the snapshot was taken before these crates joined Cargo.lock, so their advisories" \
      "are not checked: $uncovered(refresh it with --refresh-snapshot)" >&2
  fi
fi

# Each ignore in .cargo/audit.toml holds only while what it says about our code is true.
stale=0
if grep -rnE 'quick_xml|payload::Xml|web::Xml|\bXml\b|into_xml' src \
  || grep -qE '"(application|text)/xml"' openapi/openapi.json; then
  echo "src/ or the OpenAPI document now parses XML: the ignores of RUSTSEC-2026-0194 and" \
    "RUSTSEC-2026-0195 (quick-xml) in .cargo/audit.toml no longer hold" >&2
  stale=1
fi
if [ -n "$(cargo tree --quiet -i derivative -e normal,build --target all 2> /dev/null)" ]; then
  echo "derivative is now compiled: the ignore of RUSTSEC-2024-0388 in .cargo/audit.toml no" \
    "longer holds" >&2
  stale=1
fi
if cargo tree --quiet -i paste -e normal,build --target all 2> /dev/null | head -n 1 | grep -qv '(proc-macro)'; then
  echo "paste is now more than a proc-macro: the ignore of RUSTSEC-2024-0436 in" \
    ".cargo/audit.toml no longer holds" >&2
  stale=1
fi
[ "$stale" = 0 ] || exit 1

# A check that read no advisories or no dependencies would pass whatever the lock file holds.
cargo audit --db "$db" --no-fetch --json > "$work/report.json" 2> "$work/report.log" || true
python3 - "$work/report.json" "$work/report.log" << 'EOF'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("cargo audit could not check Cargo.lock:\n" + open(sys.argv[2]).read())
advisories = report["database"]["advisory-count"]
dependencies = report["lockfile"]["dependency-count"]
if advisories == 0 or dependencies == 0:
    sys.exit(f"cargo audit read {advisories} advisories and {dependencies} dependencies")
EOF

cargo audit --db "$db" --no-fetch --deny warnings
echo "no advisory applies to Cargo.lock ($(grep -c '"RUSTSEC-' .cargo/audit.toml) ignored, with reasons, in .cargo/audit.toml)"
