#!/usr/bin/env bash
# asterisk-lab.sh start|stop|status|env — the real Asterisk lab of ../shared/asterisk for the relay's lab tests
# (tests/CloudTelephony.Relay.Tests/AsteriskLabTests.cs start it through this script).
#
# The lab runs in .ct/asterisk-lab with its ports shifted by CT_LAB_PORT_OFFSET (default 300: AMI on 5338), so it does
# not collide with a lab started by hand on the default ports. Its templates are the shipped ones with one change: the
# relay's manager user reads the dtmf class too and may write reporting (CoreShowChannels), as README.md asks of a
# real Asterisk. `start` installs the lab's runtime packages once (apt, as root), is idempotent, and prints the lab
# directory on its last line. Exit 3 with one line when ../shared/asterisk is absent.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${CT_SHARED_DIR:-$ROOT/../shared}/asterisk
DIR=${CT_LAB_DIR:-$ROOT/.ct/asterisk-lab}
TEMPLATES=$ROOT/.ct/asterisk-lab-templates
OFFSET=${CT_LAB_PORT_OFFSET:-300}

say() { printf 'asterisk-lab: %s\n' "$*" >&2; }

if [ ! -f "$SHARED/bin/lab.sh" ]; then
  echo "asterisk-lab: $SHARED is absent; the Asterisk lab is not available" >&2
  exit 3
fi

lab() { LAB_TEMPLATES="$TEMPLATES" bash "$SHARED/bin/lab.sh" "$@" --dir "$DIR"; }

templates() {
  rm -rf "$TEMPLATES"
  mkdir -p "$(dirname "$TEMPLATES")"
  cp -r "$SHARED/lab" "$TEMPLATES"
  chmod -R u+w "$TEMPLATES"
  # the [relay] user: + dtmf (IVR digits), write = reporting (CoreShowChannels after each login)
  sed -i '/^\[relay\]/,/^\[/{s/^read = call,cdr,dialplan,agent$/read = call,cdr,dialplan,agent,dtmf/;s/^write =$/write = reporting/}' "$TEMPLATES/pbx/manager.conf"
  grep -q '^read = call,cdr,dialplan,agent,dtmf$' "$TEMPLATES/pbx/manager.conf" || { say "could not patch the relay user in manager.conf"; exit 1; }
}

case "${1:-status}" in
  start)
    if lab status >/dev/null 2>&1; then
      echo "$DIR"
      exit 0
    fi
    if [ ! -f "$DIR/.installed" ]; then
      say "installing the lab's runtime packages (once)"
      bash "$SHARED/bin/lab.sh" install >&2
      mkdir -p "$DIR"
    fi
    templates
    lab start --port-offset "$OFFSET" >&2
    touch "$DIR/.installed"
    echo "$DIR"
    ;;
  stop) lab stop >&2 ;;
  status) lab status ;;
  env) lab env ;;
  *) echo "usage: asterisk-lab.sh start|stop|status|env" >&2; exit 2 ;;
esac
