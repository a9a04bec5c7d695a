#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server (Debian's `postgresql`, installed by
# tests/suites/setup.sh) on a free loopback port, then stops and deletes it:
#
#   bash tests/suites/postgres/with-postgres.sh cargo test
#
# The command gets TEST_POSTGRES_URL (a superuser URL: tests/postgres.rs makes a database per
# test) and TEST_REQUIRE_POSTGRES=1 (so those tests fail rather than skip without it).
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "with-postgres: PostgreSQL is not installed (bash tests/suites/setup.sh installs it)" >&2
  exit 1
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/siwe-test-postgres.XXXXXX)
chmod 755 "$dir"
# initdb refuses to run as root: the cluster then belongs to the `postgres` user.
as_owner() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
  as_owner() { su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; }
fi
stop() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM
as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync > "$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off: a throwaway server whose crash safety is not under test.
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" > /dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
export TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
export TEST_REQUIRE_POSTGRES=1
"$@"
