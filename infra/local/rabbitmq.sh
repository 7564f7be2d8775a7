#!/usr/bin/env bash
# Installs (if missing) and starts a RabbitMQ node with the AMQP 1.0 plugin: the third-party broker the Service Bus
# client is checked against (tests/CloudTelephony.ServiceBus.Tests/RabbitMqInteropTests.cs).
#   infra/local/rabbitmq.sh start   -> prints the endpoint (amqp://127.0.0.1:PORT) on stdout (last line)
#   infra/local/rabbitmq.sh stop|status
# Node ctrabbit@localhost, AMQP port $CT_RABBITMQ_PORT (5679), user guest/guest (loopback only, RabbitMQ's default).
set -euo pipefail
export RABBITMQ_NODENAME=ctrabbit@localhost
export RABBITMQ_NODE_PORT=${CT_RABBITMQ_PORT:-5679}
export RABBITMQ_DIST_PORT=$((RABBITMQ_NODE_PORT + 20000))
log() { echo "[rabbitmq] $*" >&2; }

install() {
  command -v rabbitmq-server >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then log "RabbitMQ is not installed; run as root or: sudo apt-get install -y rabbitmq-server"; exit 1; fi
  log "installing rabbitmq-server from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq rabbitmq-server >&2 2>/dev/null || { apt-get update -qq >&2; apt-get install -y -qq rabbitmq-server >&2; }
}

running() { rabbitmqctl -n "$RABBITMQ_NODENAME" -q status >/dev/null 2>&1; }

start() {
  install
  rabbitmq-plugins enable --offline rabbitmq_amqp1_0 >/dev/null
  if running; then
    log "already running on 127.0.0.1:$RABBITMQ_NODE_PORT"
  else
    log "starting node $RABBITMQ_NODENAME on 127.0.0.1:$RABBITMQ_NODE_PORT"
    rabbitmq-server -detached >&2
    # await_startup gives up at once while the node has not registered with epmd yet: wait for that first
    local i
    for i in $(seq 1 90); do running && break; sleep 1; done
    timeout 90 rabbitmqctl -n "$RABBITMQ_NODENAME" -q await_startup >&2 || { log "did not start (see /var/log/rabbitmq/)"; exit 1; }
  fi
  echo "amqp://127.0.0.1:$RABBITMQ_NODE_PORT"
}

case "${1:-start}" in
  start) start ;;
  stop) running && rabbitmqctl -n "$RABBITMQ_NODENAME" -q stop >&2 || true ;;
  status) running && echo "running on 127.0.0.1:$RABBITMQ_NODE_PORT" || { echo "not running"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
