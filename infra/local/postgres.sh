#!/usr/bin/env bash
# Installs (if missing) and starts a private PostgreSQL cluster for local runs and tests.
#   infra/local/postgres.sh start   -> prints the connection string on stdout (last line)
#   infra/local/postgres.sh stop
#   infra/local/postgres.sh status
# Data directory: $CT_PG_DIR or <checkout>/.ct/pg (falls back to /var/tmp when the postgres user cannot reach the
# checkout, e.g. under /root). Port: $CT_PG_PORT or 55432. Auth: trust on 127.0.0.1 only (a developer cluster).
# initdb/pg_ctl refuse to run as root, so they run as the 'postgres' user.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=${CT_PG_PORT:-55432}
db=${CT_PG_DB:-cloudtelephony}
log() { echo "[postgres] $*" >&2; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_bin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do
    [ -x "$b/pg_ctl" ] && { echo "$b"; return 0; }
  done
  return 1
}

install_pg() {
  if find_bin >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then log "PostgreSQL server not installed; run as root or: sudo apt-get install -y postgresql"; exit 1; fi
  log "installing PostgreSQL from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql postgresql-contrib >&2
  # Debian starts a default cluster on 5432; we use our own and leave that one alone.
}

data_dir() {
  if [ -n "${CT_PG_DIR:-}" ]; then echo "$CT_PG_DIR"; return; fi
  local d="$here/.ct/pg"
  mkdir -p "$here/.ct"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$here/.ct"; then
    d="/var/tmp/ct-pg-$(echo "$here" | md5sum | cut -c1-8)"
  fi
  echo "$d"
}

start() {
  install_pg
  local bin dir
  bin=$(find_bin)
  dir=$(data_dir)
  if [ ! -s "$dir/PG_VERSION" ]; then
    log "initdb $dir"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    [ -s "$dir/ct-port" ] && port=$(cat "$dir/ct-port")
    log "already running on port $port ($dir)"
  else
    # another checkout's cluster (or anything else) on the default port: take the next free one, unless one was asked for
    if [ -z "${CT_PG_PORT:-}" ]; then
      local tries=0
      while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ $tries -lt 20 ]; do port=$((port + 1)); tries=$((tries + 1)); done
    fi
    echo "$port" > "$dir/ct-port"
    log "starting on 127.0.0.1:$port ($dir)"
    if ! as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c max_connections=200" start >/dev/null; then
      tail -n 5 "$dir/server.log" >&2
      log "could not start (is port $port taken? set CT_PG_PORT to another port)"
      exit 1
    fi
  fi
  if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atqc "select 1 from pg_database where datname='$db'" | grep -q 1; then
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  fi
  echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=$db"
}

stop() {
  local bin dir
  bin=$(find_bin) || exit 0
  dir=$(data_dir)
  [ -s "$dir/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) bin=$(find_bin); as_pg "$bin/pg_ctl" -D "$(data_dir)" status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
