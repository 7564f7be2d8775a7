#!/usr/bin/env bash
# Installs (if missing) Debian's Chromium and ChromeDriver for the web app's browser tests (tests/CloudTelephony.Web.Tests).
#   infra/local/chromium.sh ensure   -> prints "CHROMIUM CHROMEDRIVER" (paths) on stdout (last line)
#   infra/local/chromium.sh status
# Packages `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver); the versions match because both
# come from the same Debian source package. Nothing is downloaded by Selenium itself (no Selenium Manager, no CDN).
set -euo pipefail

log() { echo "[chromium] $*" >&2; }
browser=${CT_CHROMIUM:-/usr/bin/chromium}
driver=${CT_CHROMEDRIVER:-/usr/bin/chromedriver}

installed() { [ -x "$browser" ] && [ -x "$driver" ]; }

install() {
  installed && return 0
  if [ "$(id -u)" != 0 ]; then
    log "chromium and chromium-driver are not installed; run as root or: sudo apt-get install -y chromium chromium-driver"
    exit 1
  fi
  log "installing chromium and chromium-driver from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium chromium-driver >&2 || { apt-get update -qq >&2 && apt-get install -y -qq chromium chromium-driver >&2; }
  installed || { log "chromium or chromedriver still missing after apt-get install"; exit 1; }
}

case "${1:-status}" in
  ensure)
    install
    log "$("$browser" --version 2>/dev/null | head -n 1), $("$driver" --version 2>/dev/null | cut -d' ' -f1-2)"
    echo "$browser $driver"
    ;;
  status)
    if installed; then
      "$browser" --version
      "$driver" --version
    else
      echo "not installed (infra/local/chromium.sh ensure)"
    fi
    ;;
  *) echo "usage: $0 ensure|status" >&2; exit 2 ;;
esac
