#!/usr/bin/env bash
# Installs (if missing or changed) the npm tools of the OpenAPI check: @redocly/cli, openapi-typescript and typescript,
# pinned by tests/openapi/package.json and package-lock.json, into <checkout>/.ct/openapi-tools (no global install).
#   infra/local/openapi-tools.sh install   -> prints the tools' bin folder on stdout (last line)
# node and npm come from Debian packages (apt-get install nodejs npm) when missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src="$here/tests/openapi"
dir="$here/.ct/openapi-tools"
log() { echo "[openapi-tools] $*" >&2; }

need_npm() {
  command -v npm >/dev/null && command -v node >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then log "node/npm not installed; run as root or: sudo apt-get install -y nodejs npm"; exit 1; fi
  log "installing nodejs and npm from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq nodejs npm >&2
}

install() {
  mkdir -p "$dir"
  # reinstall only when the pinned versions changed
  if [ -x "$dir/node_modules/.bin/redocly" ] && [ -x "$dir/node_modules/.bin/openapi-typescript" ] && [ -x "$dir/node_modules/.bin/tsc" ] \
     && cmp -s "$src/package-lock.json" "$dir/package-lock.json"; then
    echo "$dir/node_modules/.bin"
    return 0
  fi
  need_npm
  log "installing $(node -e 'const p=require(process.argv[1]).devDependencies;console.log(Object.entries(p).map(([k,v])=>k+"@"+v).join(" "))' "$src/package.json") into $dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$dir/node_modules/.bin"
}

case "${1:-install}" in
  install) install ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
