#!/usr/bin/env bash
# Installs (if missing) and starts Azurite's blob service for local runs and tests (the frame archive).
#   infra/local/azurite.sh start   -> prints the connection string on stdout (last line)
#   infra/local/azurite.sh stop
#   infra/local/azurite.sh status
# Azurite comes from npm into <checkout>/.ct/azurite/node_modules (no global install); data in .ct/azurite/data.
# Port: $CT_AZURITE_PORT or 10000, on 127.0.0.1 only. The account is Azurite's well-known development account
# (devstoreaccount1 and its published key): a local emulator, not a secret.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=${CT_AZURITE_PORT:-10000}
version=3.37.0
dir="$here/.ct/azurite"
pidfile="$dir/azurite-$port.pid"
logfile="$dir/azurite-$port.log"
log() { echo "[azurite] $*" >&2; }

connection_string() {
  local key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
  echo "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$port/devstoreaccount1;"
}

need_npm() {
  command -v npm >/dev/null && command -v node >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then log "node/npm not installed; run as root or: sudo apt-get install -y nodejs npm"; exit 1; fi
  log "installing nodejs and npm from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq nodejs npm >&2
}

install_azurite() {
  [ -x "$dir/node_modules/.bin/azurite-blob" ] && return 0
  need_npm
  # Azurite 3.37 declares node >= 22; it runs on node 20 (checked). Debian 12's own nodejs is 18: untested.
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 20 ] || log "warning: node $(node --version 2>/dev/null) is older than 20; azurite $version asks for >= 22 and may not start"
  log "installing azurite@$version with npm into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "azurite@$version" >&2
}

# True when something accepts TCP connections on 127.0.0.1:$port.
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

running() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  install_azurite
  mkdir -p "$dir/data"
  if [ -z "${CT_AZURITE_PORT:-}" ] && ! running; then
    # one started earlier on a fallback port (the default was taken) is this checkout's: reuse it
    local f
    for f in "$dir"/azurite-*.pid; do
      [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null || continue
      port=${f##*/azurite-}; port=${port%.pid}; pidfile=$f; logfile="$dir/azurite-$port.log"
      break
    done
  fi
  if running; then
    log "already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
  else
    if [ -z "${CT_AZURITE_PORT:-}" ]; then
      # another checkout's Azurite (or anything else) on the default port: take the next free one
      local tries=0
      while answers && [ $tries -lt 20 ]; do port=$((port + 1)); tries=$((tries + 1)); done
      pidfile="$dir/azurite-$port.pid"; logfile="$dir/azurite-$port.log"
    fi
    if answers; then log "port $port is taken by another program (set CT_AZURITE_PORT to another port)"; exit 1; fi
    log "starting the blob service on 127.0.0.1:$port ($dir/data)"
    nohup "$dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir/data" \
      --silent --skipApiVersionCheck --loose >"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    local i
    for i in $(seq 1 100); do
      answers && break
      running || { tail -n 5 "$logfile" >&2; log "azurite exited (log: $logfile)"; exit 1; }
      sleep 0.2
    done
    answers || { tail -n 5 "$logfile" >&2; log "azurite did not answer on port $port within 20 s (log: $logfile)"; exit 1; }
  fi
  connection_string
}

stop() {
  if running; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do running || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

status() {
  if running; then echo "azurite blob service running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; else echo "azurite not running (port $port)"; return 3; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
