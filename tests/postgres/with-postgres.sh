#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster: installs PostgreSQL from the system packages if
# it is missing, starts a cluster as an unprivileged user in a temporary directory on 127.0.0.1 and a
# free port, exports its URL as ARENA_TEST_POSTGRES (and ARENA_REQUIRE_POSTGRES=1, so a suite that
# would skip PostgreSQL fails instead), runs the command, and always stops the cluster. Exits non-zero
# when PostgreSQL cannot be installed or started: a suite that did not run never looks green.
#
#   tests/postgres/with-postgres.sh cargo test --test conformance --test postgres -- --include-ignored
set -euo pipefail

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

if ! bin=$(find_bin); then
  echo "installing PostgreSQL from the system packages"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; } || ! bin=$(find_bin); then
    echo "error: PostgreSQL cannot be installed on this machine (apt-get install postgresql failed)," >&2
    echo "so the PostgreSQL tests cannot run" >&2
    exit 1
  fi
fi

# The server refuses to run as root: use the package's `postgres` user, or create an unprivileged one.
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  user=postgres
  id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
fi
as_user() {
  if [ "$(id -un)" = "$user" ]; then "$@"; else runuser -u "$user" -- "$@"; fi
}

data=$(mktemp -d)
chown "$user" "$data"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stop() {
  as_user "$bin/pg_ctl" -D "$data/cluster" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap stop EXIT

as_user "$bin/initdb" -D "$data/cluster" -U arena --auth=trust -E UTF8 >/dev/null
as_user "$bin/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w \
  -o "-h 127.0.0.1 -p $port -k $data -c fsync=on -c max_connections=100" start >/dev/null
as_user "$bin/createdb" -h 127.0.0.1 -p "$port" -U arena arena_test

export ARENA_TEST_POSTGRES="postgres://arena@127.0.0.1:$port/arena_test"
export ARENA_REQUIRE_POSTGRES=1
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
